// Package etcdstore keeps certmgr's certificates, API keys and master key
// check value in etcd, so that several replicas of certmgr can serve the
// same data. It is the second backend of certs.Certificates and of auth's
// KeyStore and KeyLifecycle (store.Store, on bbolt, is the first) and
// passes the same conformance suite (store/storetest).
//
// Under the store's prefix P:
//
//	P certs/ACCOUNT/PROJECT/ID      the certificate (JSON, as bbolt stores it; the private key sealed)
//	P names/ACCOUNT/PROJECT/NAME    the id of the certificate with that name
//	P apikeys/HASH                  an API key record (only the hash of its secret)
//	P meta/epoch                    the store's epoch
//	P meta/masterKeyCheck           the check value of the master key the data is sealed with
//	P owners/ACCOUNT/PROJECT/ID     the replica whose delete or removal of types is in progress, bound to its lease
//	P meta/masterKeyNext            the check value of the key a master-key rotation moves to, while it runs
//	P meta/masterKeyWalk            the replica whose walk re-seals the records, bound to its lease
//	P replicas/NAME                 the ids of the master keys a live replica holds, bound to its lease
//
// Accounts and projects are validated slugs, names JavaScript identifiers
// and ids generated, so none holds a "/" and a project's keys are one
// prefix. Private keys reach the store sealed with the master key, exactly
// as the bbolt store keeps them: etcd never sees a plaintext key.
//
// Every write is one transaction whose comparisons hold it to what it read:
// a name is taken by the transaction that creates its key (create revision
// 0), so of two replicas creating one name exactly one wins; an update or
// delete holds only if the record's modification revision is still the one
// its function saw, and otherwise reads again and reruns it. A record's
// Revision is its key's modification revision, etcd's, so it is not stored
// in the value. Reads are linearizable.
//
// The change feed (Revision, ChangesSince, SetPublisher) is served from
// memory: each replica watches the prefix once, with previous values,
// replaying first what etcd still keeps of its history, and keeps the
// entries of the last changes of certificate keys (etcdkv.Window); a
// subscriber at or after the window's compaction point resumes on any
// replica, one before it resyncs. A record carries the type of the change
// that wrote it ("change"), since a key's new value alone cannot tell a
// disable from a rotation. A write
// returns once this replica's feed has published it. Snapshot is a
// linearizable read, answered with the feed's revision of that read.
//
// A delete or a removal of environment types in progress belongs to the
// replica that started it (certs.Owners): its owner key is bound to a lease
// the replica renews, so another replica's resume loop takes the change on
// only once the owner is dead (Options.OwnerTTL after its last renewal, or
// at once when it stops cleanly and revokes the lease).
//
// A master-key rotation (keyrotation.go, driven by masterkey.Shared)
// begins only once every live replica advertises the next key; every
// certificate write compares the master key records its replica follows,
// so none is sealed under a key the store no longer asks for; a re-sealed
// record says so in its change type, and the feed publishes nothing for it.
package etcdstore
