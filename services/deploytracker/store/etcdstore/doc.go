// Package etcdstore keeps the deploytracker's deployments in etcd, so that
// several replicas of the deploytracker can serve the same data. It is the
// second backend of deploy.Deployments (store.Store, on bbolt, is the
// first) and passes the same conformance suite (store/storetest).
//
// Under the store's prefix P:
//
//	P deployments/ACCOUNT/PROJECT/ENVIRONMENT   the deployment (JSON, as bbolt stores it)
//	P ids/ACCOUNT/PROJECT/ID                    the environment of a deployment id
//	P pending/ACCOUNT/PROJECT/ENVIRONMENT/TOKEN a deploy in progress, bound to its replica's lease
//	P meta/epoch                                the store's epoch
//
// Accounts, projects and environments are validated slugs and ids and
// tokens are generated, so none holds a "/" and a project's keys are one
// prefix. Every write is one transaction whose comparisons hold it to what
// it read; one deployment per environment is kept by comparing the
// environment key's create or modification revision. A record's Revision is
// its key's modification revision, etcd's, never a counter of our own, so
// it is not stored in the value.
//
// A deploy in progress is bound to a lease its replica keeps alive: when
// the replica dies, its deploys in progress vanish after Options.IntentTTL,
// and until then they count as references, as the delete protocol needs.
// DropAllPending drops only the calling replica's own deploys in progress,
// never another live replica's.
//
// The change feed (Revision, ChangesSince, SetPublisher) is served from
// memory: each replica watches the prefix once, with previous values,
// replaying first what etcd still keeps of its history, and keeps the
// entries of the last changes of deployment keys (etcdkv.Window); a
// subscriber at or after the window's compaction point resumes on any
// replica, one before it resyncs. A write
// returns once this replica's feed has published it. Snapshot is a
// linearizable read, answered with the feed's revision of that read.
package etcdstore
