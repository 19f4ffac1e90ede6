package certs

import (
	"fmt"
	"log/slog"
	"sync"
)

// Owners is implemented by a store that several replicas of certmgr share
// (etcd's). A delete or a removal of environment types marks the
// certificate, checks for references, then finishes or puts the mark back;
// every replica's ResumeDeletes finishes the marks a crash left. Without
// owners, one replica's resume loop would finish or undo another replica's
// change while that one is still checking: a removal finished without the
// types its request added, a delete refused with a confusing answer.
//
// So the replica that marks a certificate first claims it, with a claim
// that lives as long as the replica (etcd: a key bound to its lease), and
// releases it when the change has finished or been refused. ResumeDeletes
// takes on only a mark nobody holds: one whose owner died.
type Owners interface {
	// ClaimMark makes this replica the owner of the certificate's delete
	// or removal in progress. It returns false, writing nothing, when
	// another change holds it: another replica's that is alive, or one
	// of this replica's own still running.
	ClaimMark(account, project, id string) (bool, error)
	// ReleaseMark ends a claim ClaimMark gave.
	ReleaseMark(account, project, id string) error
}

// claim claims the mark of a certificate if the store keeps owners, and
// returns the function that releases it. held is false when another
// change holds it.
func (m *Manager) claim(account, project, id string) (release func(), held bool, err error) {
	owners := m.owners
	if owners == nil {
		owners = &m.local
	}
	ok, err := owners.ClaimMark(account, project, id)
	if err != nil || !ok {
		return nil, false, err
	}
	return func() {
		if err := owners.ReleaseMark(account, project, id); err != nil {
			// The claim ends with this replica's lease at the latest.
			m.audit.Warn("cannot release the claim on a certificate's finished change; another replica's resume loop waits until this replica stops",
				slog.String("certificateId", id), slog.String("error", err.Error()))
		}
	}, true, nil
}

// busyError refuses a change that needs the certificate's mark while
// another change holds it.
func busyError(id string) error {
	return fmt.Errorf("%w: certificate %s has a delete or a removal of environment types in progress (on this or another certmgr replica); try again when it has finished", ErrBusy, id)
}

// localOwners are the claims of one process, for a store only one replica
// uses (bbolt): its resume loop runs beside live requests, and must leave a
// change that a request is still checking to that request, as it leaves
// another replica's on etcd.
type localOwners struct {
	mu   sync.Mutex
	held map[string]bool
}

func (o *localOwners) ClaimMark(account, project, id string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := account + "/" + project + "/" + id
	if o.held[k] {
		return false, nil
	}
	if o.held == nil {
		o.held = map[string]bool{}
	}
	o.held[k] = true
	return true, nil
}

func (o *localOwners) ReleaseMark(account, project, id string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.held, account+"/"+project+"/"+id)
	return nil
}
