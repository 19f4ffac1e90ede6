package certs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/certbind/certbind/services/certmgr/store"
)

// Errors, by the kind of answer they call for. Validation failures are
// *validate.Error, *material.Error or *InputError.
var (
	// ErrNotFound: no such certificate in that account and project.
	ErrNotFound = store.ErrNotFound
	// ErrNameTaken: the name is in use in that account and project.
	ErrNameTaken = store.ErrNameTaken
	// ErrReferenced: deployments still use the certificate; the error is a
	// *ReferencedError that names them.
	ErrReferenced = errors.New("certificate is referenced by deployments")
	// ErrDeleting: a delete of the certificate is in progress; nothing else
	// may change it until that delete finishes or is refused.
	ErrDeleting = errors.New("certificate is being deleted")
	// ErrTypesChanging: a removal of environment types from the certificate
	// is checking for references; another removal must wait until it
	// finishes or is refused.
	ErrTypesChanging = errors.New("a change of environment types is in progress")
	// ErrBusy: another delete or removal of environment types, on this
	// replica or another, is checking the certificate's references; try
	// again when it has finished.
	ErrBusy = errors.New("another change of the certificate is in progress")
	// ErrReferencesUnavailable: the deploytracker could not be asked which
	// deployments use the certificate, so nothing was deleted.
	ErrReferencesUnavailable = errors.New("cannot check which deployments use the certificate")
	// ErrDamaged: a stored certificate's material cannot be used, because its
	// private key does not unseal or its chain does not decode. Only that
	// certificate is affected; rotating it in place with new material
	// repairs it.
	ErrDamaged = errors.New("certificate material is damaged")
)

// InputError is a request that is wrong in a way the caller can fix.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Msg }

// ReferencedError refuses a change because deployments reference the
// certificate. errors.Is(err, ErrReferenced) holds.
type ReferencedError struct {
	Action      string // what was refused, e.g. "delete"
	Certificate string // name
	References  []Reference
	// Advice says what to do instead; empty means the advice for a
	// delete (disable, redeploy without it, try again).
	Advice string
}

func (e *ReferencedError) Error() string {
	var list []string
	for _, r := range e.References {
		item := fmt.Sprintf("%s (environment %q, %s)", r.DeploymentID, r.Environment, r.EnvironmentType)
		if r.InProgress {
			item += " [deploy in progress]"
		}
		list = append(list, item)
	}
	advice := e.Advice
	if advice == "" {
		advice = "disable it, redeploy those deployments without it, then try again"
	}
	return fmt.Sprintf("cannot %s certificate %q: it is referenced by %d deployment(s): %s; %s",
		e.Action, e.Certificate, len(e.References), strings.Join(list, ", "), advice)
}

// Is makes errors.Is(err, ErrReferenced) true.
func (e *ReferencedError) Is(target error) bool { return target == ErrReferenced }
