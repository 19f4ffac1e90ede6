package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/certbind/certbind/services/edge/state"
)

// FetchOptions names the certificates of a Fetch, as a custom handler
// names them in fetch(url, { mtlsCertificate }).
type FetchOptions struct {
	// MTLSCertificate is the name of the client certificate to present;
	// "" for none.
	MTLSCertificate string
	// CACertificate is the name of a CA certificate to verify the backend
	// with; "" for Config.RootCAs.
	CACertificate string
}

// Fetch sends req with the named client certificate (and optionally a named
// CA) of account/project, through the same pools as the routes, and returns
// the backend's response. The caller must close its body.
//
// Like a route, Fetch never sends a request without the certificate it asks
// for: a certificate that is missing or of the wrong kind gives a
// *CertificateError, and a plain http:// URL with a certificate gives an
// error wrapping ErrNeedsHTTPS, in both cases before any connection is made.
// Disabled certificates are usable, as they are for routes. Fetch does not
// check environment types (it has no deployment to check against) and does
// not follow redirects, so the certificate is only ever presented to the
// host req names.
func (h *Handler) Fetch(ctx context.Context, account, project string, req *http.Request, opt FetchOptions) (*http.Response, error) {
	if req.URL == nil || !req.URL.IsAbs() || req.URL.Host == "" {
		return nil, errors.New("fetch: the request needs an absolute URL such as https://backend.example.com/path")
	}
	if s := req.URL.Scheme; s != "https" && s != "http" {
		return nil, fmt.Errorf("fetch: the URL has the scheme %q (use https:// or http://)", s)
	}
	snap := h.state.Load()
	var (
		m   tlsMaterial
		err error
	)
	if m.client, err = byName(snap, account, project, optMTLS, opt.MTLSCertificate); err != nil {
		return nil, err
	}
	if m.ca, err = byName(snap, account, project, optCA, opt.CACertificate); err != nil {
		return nil, err
	}
	backend := origin(req.URL)
	if req.URL.Scheme != "https" && (m.client != nil || m.ca != nil) {
		return nil, fmt.Errorf("fetch %s: %w", backend, ErrNeedsHTTPS)
	}
	p := h.acquire(req.URL, backend, account, m, true)
	resp, err := p.up.roundTrip(fetchRequest(ctx, req))
	if err != nil {
		h.pools.release(p)
		return nil, fmt.Errorf("fetch %s: %w", backend, err)
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { h.pools.release(p) }}
	return resp, nil
}

// byName finds the certificate a Fetch option names; nil for "".
func byName(snap *state.Snapshot, account, project, option, name string) (*state.Certificate, error) {
	if name == "" {
		return nil, nil
	}
	c := snap.CertificateByName(account, project, name)
	id := ""
	if c != nil {
		id = c.ID
	}
	if ce := usable(c, option, name, id, ""); ce != nil {
		return nil, ce
	}
	return c, nil
}

// releasingBody ends a Fetch's use of its pool when the body is closed.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

// fetchRequest is what an upstream sends for a Fetch of req.
func fetchRequest(ctx context.Context, req *http.Request) *outgoing {
	o := &outgoing{
		ctx:     ctx,
		method:  req.Method,
		target:  req.URL.RequestURI(),
		host:    req.Host,
		header:  req.Header,
		close:   req.Close,
		head:    req,
		trailer: req.Trailer,
	}
	if o.method == "" {
		o.method = http.MethodGet
	}
	if o.host == "" {
		o.host = req.URL.Host
	}
	if req.Body != nil && req.Body != http.NoBody {
		o.body, o.length = req.Body, req.ContentLength
		if o.length == 0 {
			// A body with no length given is of unknown length, as
			// net/http has it.
			o.length = -1
		}
	}
	return o
}
