// Package storetest holds the rules every deploytracker store backend must
// keep, as one suite: Run it from the backend's tests with a function that
// opens a new, empty store. The bbolt store runs it in store's tests; a
// second backend adds a test that runs it too.
//
// The suite checks what the rest of the deploytracker relies on
// (deploy.Deployments, api.DeploymentFeed, the hub's publisher): deploys in
// progress that count as references from Begin to Commit or Abort, an
// environment's id and generations, revisions that increase (never assumed
// to increase by one), changes since a revision, the references certmgr's
// delete and environment-type removal checks read, epochs and damaged
// records. Operations only the bbolt file has (backup as a file copy,
// scans) are not part of it.
//
// The suite is in two parts: what every backend keeps (Store), and the
// change feed (Feed), checked only on a store that implements it, so that
// a backend's reads and writes can be held to the rules before its feed
// exists.
package storetest

import "github.com/certbind/certbind/services/deploytracker/store"

// Store is the reads and writes of a deploytracker store backend that the
// suite exercises: deploy.Deployments and the store's epoch.
type Store interface {
	BeginDeploy(p store.Pending) error
	AbortDeploy(p store.Pending) error
	CommitDeploy(p store.Pending, d *store.Deployment, newID string) (store.Change, error)
	DeleteDeployment(account, project, id string) (store.Change, error)
	GetDeployment(account, project, id string) (*store.Deployment, error)
	ListDeployments(account, project string) ([]*store.Deployment, error)
	References(account, project, certificateID string) ([]store.Use, error)
	DropAllPending() (int, error)
	Epoch() string
}

// Feed is the change feed of a backend (api.DeploymentFeed and the hub's
// publisher). The suite checks it, and the revisions and changes every
// write leaves in it, when the store Run opens implements it.
type Feed interface {
	Snapshot() ([]*store.Deployment, uint64, error)
	ChangesSince(rev uint64, limit int) (changes []store.Entry, compacted, head uint64, err error)
	Revision() (uint64, error)
	SetPublisher(fn func(store.Entry))
}

// Damager is implemented by a backend's test harness that can make the
// stored deployment record of an environment undecodable, as a torn or
// foreign write would. The damaged-record rules are checked only when the
// store Run opens implements it.
type Damager interface {
	DamageDeployment(account, project, environment string) error
}
