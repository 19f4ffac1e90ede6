package proxy

import "github.com/certbind/certbind/services/edge/state"

// countRequest counts a request under each certificate of m. The counters
// hang on the certificates the request already holds (state.Traffic), so
// this is a pointer test and an atomic add per certificate: no lookup, no
// lock, no allocation.
func (m tlsMaterial) countRequest() {
	if m.client != nil && m.client.Traffic != nil {
		m.client.Traffic.Request()
	}
	if m.ca != nil && m.ca.Traffic != nil {
		m.ca.Traffic.Request()
	}
}

// countFailure counts an error answer with code under each certificate of
// m; it runs only on the error path.
func (m tlsMaterial) countFailure(code string) {
	handshake := handshakeFailure(code)
	if m.client != nil && m.client.Traffic != nil {
		m.client.Traffic.Failed(code, handshake)
	}
	if m.ca != nil && m.ca.Traffic != nil {
		m.ca.Traffic.Failed(code, handshake)
	}
}

// countUnavailable counts a request refused because the certificate ce
// names cannot be used, under that certificate if the edge holds it (a
// damaged one, say, or one not allowed in the environment type). One the
// edge does not hold has no counters: the route's 502 counts it.
func countUnavailable(snap *state.Snapshot, ce *CertificateError) {
	if ce.ID == "" {
		return
	}
	if c := snap.Certificate(ce.ID); c != nil && c.Traffic != nil {
		c.Traffic.Request()
		c.Traffic.Failed(codeCertUnavailable, false)
	}
}

// handshakeFailure reports whether code answers a failed TLS handshake
// with the backend.
func handshakeFailure(code string) bool {
	switch code {
	case codeClientCertRejected, codeBackendCertUntrusted, codeBackendTLS:
		return true
	}
	return false
}
