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
package storetest

import "github.com/certbind/certbind/services/deploytracker/store"

// Store is everything of a deploytracker store backend the suite exercises.
type Store interface {
	BeginDeploy(p store.Pending) error
	AbortDeploy(p store.Pending) error
	CommitDeploy(p store.Pending, d *store.Deployment, newID string) (store.Change, error)
	DeleteDeployment(account, project, id string) (store.Change, error)
	GetDeployment(account, project, id string) (*store.Deployment, error)
	ListDeployments(account, project string) ([]*store.Deployment, error)
	References(account, project, certificateID string) ([]store.Use, error)
	DropAllPending() (int, error)
	Snapshot() ([]*store.Deployment, uint64, error)
	ChangesSince(rev uint64, limit int) (changes []store.Entry, compacted, head uint64, err error)
	Revision() (uint64, error)
	Epoch() string
	SetPublisher(fn func(store.Entry))
}

// Damager is implemented by a backend's test harness that can make the
// stored deployment record of an environment undecodable, as a torn or
// foreign write would. The damaged-record rules are checked only when the
// store Run opens implements it.
type Damager interface {
	DamageDeployment(account, project, environment string) error
}
