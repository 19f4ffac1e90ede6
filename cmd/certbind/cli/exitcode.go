package cli

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
)

// Exit statuses of the certbind command. Scripts rely on them, so they
// never change meaning; exitCodesHelp documents them in "certbind --help".
const (
	ExitOK          = 0
	ExitOther       = 1 // anything not covered below
	ExitUsage       = 2 // the command line is wrong: unknown command or flag, a flag missing or malformed
	ExitNotFound    = 3 // the certificate, deployment or key does not exist
	ExitRefused     = 4 // refused by a precondition: referenced, name taken, state does not allow it
	ExitNotAllowed  = 5 // not authenticated (no or a bad key) or the key may not do it
	ExitUnavailable = 6 // the API could not be reached, timed out or is unavailable
)

// exitCodesHelp is the section of "certbind --help" that lists the exit
// statuses.
const exitCodesHelp = `Exit status:
  0  success
  1  any other error
  2  usage: unknown command or flag, a required flag missing or a flag malformed
  3  not found: no such certificate, deployment or API key
  4  refused by a precondition: the certificate is referenced by a deployment,
     the name is taken, or its state does not allow it
  5  not authenticated (missing or unknown API key) or not allowed for this key
  6  unavailable: the API could not be reached, did not answer in time or is
     temporarily unavailable`

// ExitCode returns the exit status for an error that a command returned:
// ExitOK for nil, and otherwise the class of the error. It is the one place
// that maps the API's answers (the gRPC code the REST facade sends, or the
// HTTP status when the answer is not certbind's) to exit statuses.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ce *classError
	if errors.As(err, &ce) {
		return ce.code
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiExitCode(apiErr)
	}
	return ExitOther
}

func apiExitCode(e *APIError) int {
	switch codes.Code(e.Code) {
	case codes.NotFound:
		return ExitNotFound
	case codes.FailedPrecondition, codes.AlreadyExists, codes.Aborted:
		return ExitRefused
	case codes.Unauthenticated, codes.PermissionDenied:
		return ExitNotAllowed
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return ExitUnavailable
	case codes.OK:
		// Not a certbind status (a proxy's page, say): go by the HTTP status.
		switch e.HTTPStatus {
		case http.StatusNotFound:
			return ExitNotFound
		case http.StatusConflict, http.StatusPreconditionFailed:
			return ExitRefused
		case http.StatusUnauthorized, http.StatusForbidden:
			return ExitNotAllowed
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			return ExitUnavailable
		}
	}
	return ExitOther
}

// classError is an error found by the CLI itself whose exit status is
// known: a usage mistake, a name that is not there, an API out of reach.
type classError struct {
	code int
	err  error
}

func (e *classError) Error() string { return e.err.Error() }
func (e *classError) Unwrap() error { return e.err }

// usageError marks err as a mistake on the command line (exit 2).
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &classError{code: ExitUsage, err: err}
}

// notFoundError marks err as naming something that does not exist (exit 3).
func notFoundError(err error) error {
	return &classError{code: ExitNotFound, err: err}
}

// unavailableError marks err as the API being out of reach (exit 6).
func unavailableError(err error) error {
	return &classError{code: ExitUnavailable, err: err}
}

// usageErrorf is fmt.Errorf for a usage error.
func usageErrorf(format string, args ...any) error {
	return usageError(fmt.Errorf(format, args...))
}
