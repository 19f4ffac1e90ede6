package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/certbind/certbind/internal/egress"
)

// CertificateError says why the edge cannot use a certificate that a route
// or a Fetch names. The request has not been sent.
type CertificateError struct {
	// Option is "mtlsCertificate" or "caCertificate".
	Option string
	Name   string
	ID     string // "" when the certificate was looked up by a name not found
	Reason string
}

func (e *CertificateError) Error() string {
	return fmt.Sprintf("%s %q is unavailable: %s", e.Option, e.Name, e.Reason)
}

// ErrNeedsHTTPS is returned (wrapped) when a certificate is asked for on a
// plain http:// URL: a certificate can only be presented over TLS, and the
// request is not sent without it.
var ErrNeedsHTTPS = errors.New("a certificate needs an https:// backend URL")

// Error codes of the JSON answers, in the "error" field.
const (
	codeDeploymentNotFound   = "deployment_not_found"
	codeRouteNotFound        = "route_not_found"
	codeMethodNotAllowed     = "method_not_allowed"
	codeBadPath              = "invalid_path"
	codeBodyTooLarge         = "request_body_too_large"
	codeBadTarget            = "invalid_target"
	codeCertUnavailable      = "certificate_unavailable"
	codeNeedsHTTPS           = "mtls_requires_https"
	codeClientCertRejected   = "backend_rejected_client_certificate"
	codeBackendCertUntrusted = "backend_certificate_not_trusted"
	codeBackendTLS           = "backend_tls_failed"
	codeBackendTimeout       = "backend_timeout"
	codeBackendUnreachable   = "backend_unreachable"
	codeBackendRefused       = "backend_refused_by_policy"
	codeBackendUpgrade       = "backend_upgrade_failed"
	codeBadBody              = "invalid_request_body"
	codePathNotAllowed       = "path_not_allowed"
	codeLoopDetected         = "loop_detected"
	codeBackendBusy          = "backend_busy"
	codeBodyTooSlow          = "request_body_too_slow"
)

// apiError is the JSON body of every answer the edge gives itself.
type apiError struct {
	status        int
	Code          string `json:"error"`
	Message       string `json:"message"`
	Route         string `json:"route,omitempty"`
	Option        string `json:"option,omitempty"`
	Certificate   string `json:"certificate,omitempty"`
	CertificateID string `json:"certificateId,omitempty"`
	Reason        string `json:"reason,omitempty"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	body, _ := json.Marshal(e) // only strings: cannot fail
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	w.Write(append(body, '\n'))
}

// pathAPIError answers a request whose path the path policy refuses.
func pathAPIError(routePath string, err error) *apiError {
	return &apiError{status: http.StatusBadRequest, Code: codePathNotAllowed, Route: routePath,
		Message: err.Error() + "; " + pathAllowed}
}

// certificateAPIError answers a request whose route names a certificate the
// edge cannot use.
func certificateAPIError(routePath string, ce *CertificateError) *apiError {
	return &apiError{
		status: http.StatusBadGateway,
		Code:   codeCertUnavailable,
		Message: fmt.Sprintf("route %q: %s; the request was not sent (check the certificate with `certbind mtls-certificate list`, and redeploy if the route should use another)",
			routePath, ce.Error()),
		Route:         routePath,
		Option:        ce.Option,
		Certificate:   ce.Name,
		CertificateID: ce.ID,
		Reason:        ce.Reason,
	}
}

// rejectionAlerts are the TLS alerts with which a backend refuses the client
// certificate, as crypto/tls spells them in "remote error: tls: ...".
var rejectionAlerts = []string{
	"bad certificate",
	"unsupported certificate",
	"revoked certificate",
	"expired certificate",
	"unknown certificate",
	"unknown certificate authority",
	"certificate required",
	"access denied",
}

// backendFailure is what went wrong talking to a backend, sorted by what the
// user has to check.
type backendFailure struct {
	status int
	code   string
}

// classify sorts an error of the transport. The alert a backend sends
// about the client certificate arrives either during the handshake (TLS
// 1.2) or at the first read after it (TLS 1.3, where the client finishes
// first), so both are recognised by the alert, not by when it came.
func classify(err error) backendFailure {
	var (
		verr      *tls.CertificateVerificationError
		unknownCA x509.UnknownAuthorityError
		host      x509.HostnameError
		inval     x509.CertificateInvalidError
		op        *net.OpError
		ne        net.Error
	)
	switch {
	case errors.As(err, new(*egress.RefusedError)):
		return backendFailure{http.StatusBadGateway, codeBackendRefused}
	case errors.Is(err, errBackendBusy):
		return backendFailure{http.StatusServiceUnavailable, codeBackendBusy}
	case remoteAlert(err) != "":
		alert := remoteAlert(err)
		for _, a := range rejectionAlerts {
			if alert == a {
				return backendFailure{http.StatusBadGateway, codeClientCertRejected}
			}
		}
		return backendFailure{http.StatusBadGateway, codeBackendTLS}
	case errors.As(err, &verr), errors.As(err, &unknownCA), errors.As(err, &host), errors.As(err, &inval):
		return backendFailure{http.StatusBadGateway, codeBackendCertUntrusted}
	case errors.As(err, &op) && op.Op == "dial":
		// A dial that times out is an unreachable backend, not a slow one.
		return backendFailure{http.StatusBadGateway, codeBackendUnreachable}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return backendFailure{http.StatusGatewayTimeout, codeBackendTimeout}
	}
	return backendFailure{http.StatusBadGateway, codeBackendUnreachable}
}

// refusal reports whether code answers a request a safety rule refused,
// as opposed to one that failed: those are counted on their own.
func refusal(code string) bool {
	switch code {
	case codePathNotAllowed, codeLoopDetected, codeBackendRefused, codeBackendBusy, codeBodyTooLarge, codeBodyTooSlow:
		return true
	}
	return false
}

// remoteAlert returns the alert in a "remote error: tls: ALERT" error, or "".
// crypto/tls does not export its alert type for TCP connections, and the
// transport wraps the error in text, so the text is what there is.
func remoteAlert(err error) string {
	const marker = "remote error: tls: "
	s := err.Error()
	i := strings.Index(s, marker)
	if i < 0 {
		return ""
	}
	return s[i+len(marker):]
}

// backendAPIError answers a request the backend could not serve.
func backendAPIError(f backendFailure, routePath, backend, certName string, err error) *apiError {
	e := &apiError{status: f.status, Code: f.code, Route: routePath, Certificate: certName}
	switch {
	case f.code == codeBackendRefused:
		var refused *egress.RefusedError
		errors.As(err, &refused)
		e.Reason = refused.Reason
		e.Message = fmt.Sprintf("route %q: the edge does not connect to the backend %s: %v; the request was not sent", routePath, backend, refused)
	case f.code == codeBackendBusy:
		e.Message = fmt.Sprintf("route %q: %v; retry shortly (the limit is the edge's --max-conns-per-backend)", routePath, err)
	case f.code == codeClientCertRejected && certName == "":
		e.Message = fmt.Sprintf("route %q: the backend %s wants a client certificate and the route has none (%v); name one in the route's mtlsCertificate option",
			routePath, backend, err)
	case f.code == codeClientCertRejected:
		e.Message = fmt.Sprintf("route %q: the backend %s rejected the client certificate %q (%v); check that the backend trusts the CA that issued it, that it has not expired, and that the route names the certificate the backend expects",
			routePath, backend, certName, err)
	case f.code == codeBackendCertUntrusted:
		e.Message = fmt.Sprintf("route %q: the certificate of the backend %s is not trusted (%v); check the route's caCertificate (or, without one, the system roots) and that the certificate is valid for the host in the URL",
			routePath, backend, err)
	case f.code == codeBackendTLS:
		e.Message = fmt.Sprintf("route %q: the TLS handshake with the backend %s failed (%v); check that the backend speaks TLS 1.2 or later on that port", routePath, backend, err)
	case f.code == codeBackendTimeout:
		e.Message = fmt.Sprintf("route %q: the backend %s did not answer in time (%v); check that it is healthy, or that the request does not take longer than the edge's backend timeout", routePath, backend, err)
	default:
		e.Message = fmt.Sprintf("route %q: the backend %s cannot be reached (%v); check the host and port in the route's URL and that the backend is running", routePath, backend, err)
	}
	return e
}
