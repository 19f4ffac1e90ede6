package deploy

import (
	"errors"

	"github.com/certbind/certbind/services/deploytracker/store"
)

// Errors, by the answer they call for. Validation failures are
// *gateway.Error, *validate.Error or *InputError.
var (
	// ErrNotFound: no such deployment.
	ErrNotFound = store.ErrNotFound
	// ErrCertmgrUnavailable: certmgr could not be asked about certificates,
	// so nothing was deployed.
	ErrCertmgrUnavailable = errors.New("cannot reach certmgr to check the certificates")
	// ErrChanged: a certificate changed while the deploy was checking it
	// (for example a delete began); nothing was deployed.
	ErrChanged = errors.New("a certificate changed during the deploy")
)

// InputError is a request the caller can fix. Route is -1 when the problem
// is not in one route.
type InputError struct {
	Route  int
	Option string
	Msg    string
	// CertificateID and CertificateName are set when the certificate the
	// option names exists but cannot serve the deploy (disabled, being
	// deleted, damaged, of the wrong kind or not allowed in the
	// environment type): a refusal because of that certificate.
	CertificateID, CertificateName string
}

func (e *InputError) Error() string { return e.Msg }
