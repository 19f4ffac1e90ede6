package deploy

import "github.com/certbind/certbind/services/deploytracker/store"

// Deployments is what a Tracker needs of a deployment store. The bbolt
// store (store.Store) is one; a second backend implements the same rules,
// which store/storetest checks:
//
//   - BeginDeploy records a deploy in progress durably before the Tracker
//     asks certmgr anything: from then until CommitDeploy or AbortDeploy
//     its references count in References, so certmgr's delete check sees
//     them (the deploy half of the delete protocol).
//   - CommitDeploy fails with store.ErrPendingGone when the deploy in
//     progress is gone (dropped or aborted) and then writes nothing; it
//     keeps an environment's id and creation time and raises its
//     generation.
//   - Every committed write takes a revision greater than any before it
//     (not necessarily by one) and returns its change.
//   - A record that does not decode is read as a stand-in with Damaged set;
//     References over it fails with store.ErrUndecodable (whether it uses
//     a certificate is unknown); a redeploy or a delete repairs it.
type Deployments interface {
	BeginDeploy(p store.Pending) error
	AbortDeploy(p store.Pending) error
	CommitDeploy(p store.Pending, d *store.Deployment, newID string) (store.Change, error)
	DeleteDeployment(account, project, id string) (store.Change, error)
	GetDeployment(account, project, id string) (*store.Deployment, error)
	ListDeployments(account, project string) ([]*store.Deployment, error)
	References(account, project, certificateID string) ([]store.Use, error)
	// DropAllPending removes every deploy in progress; the Tracker calls
	// it only at start-up, when no deploy can be under way.
	DropAllPending() (int, error)
}

// Scanner walks every record of the store, decoded or not, for Verify. It
// is optional, kept apart from Deployments because its results (dangling
// id index entries, undecodable changelog entries by revision) describe
// how the bbolt file lays records out; a backend without such an index
// answers Verify with an error rather than invent findings.
type Scanner interface {
	ScanDeployments() ([]store.DeploymentRecord, error)
	ScanIDs() ([]store.DanglingID, error)
	ScanPending() ([]store.PendingRecord, error)
	ScanChanges() (n int64, undecodable []uint64, err error)
}

var (
	_ Deployments = (*store.Store)(nil)
	_ Scanner     = (*store.Store)(nil)
)
