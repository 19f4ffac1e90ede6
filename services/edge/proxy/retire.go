package proxy

import (
	"net/url"
	"strings"

	"github.com/certbind/certbind/services/edge/state"
)

// Retire takes out of service the pools that snap no longer needs: those of
// a (backend, certificate version, CA version) that no route of snap uses,
// and those Fetch made whose certificate versions snap no longer holds.
// Requests already running on a retired pool finish on it; its connections
// are closed once the last one is done. New registers Retire to run after
// every publish of Config.State, so callers need not.
func (h *Handler) Retire(snap *state.Snapshot) {
	used := map[poolKey]bool{}
	for _, d := range snap.Deployments {
		for i := range d.Routes {
			if k, ok := routeKey(snap, d.Account, &d.Routes[i]); ok {
				used[k] = true
			}
		}
	}
	h.pools.retire(func(k poolKey, p *pool) bool {
		return used[k] || p.fetch && current(snap, k.client) && current(snap, k.ca)
	})
}

// routeKey returns the pool key the requests of a route of account use in
// snap; ok is false when the route cannot send at all.
func routeKey(snap *state.Snapshot, account string, r *state.Route) (poolKey, bool) {
	var u *url.URL
	var err error
	if r.RewritePattern != "" {
		// Placeholders are never in the scheme or host (the
		// deploytracker refuses that), so the text before the first
		// one names the backend.
		raw, _, _ := strings.Cut(r.RewritePattern, "${")
		u, err = url.Parse(raw)
	} else {
		u, err = r.Base()
	}
	if err != nil {
		return poolKey{}, false
	}
	var m tlsMaterial
	if r.MTLSCertificateID != "" {
		if m.client = snap.Certificate(r.MTLSCertificateID); m.client == nil {
			return poolKey{}, false
		}
	}
	if r.CACertificateID != "" {
		if m.ca = snap.Certificate(r.CACertificateID); m.ca == nil {
			return poolKey{}, false
		}
	}
	return m.key(account, origin(u)), true
}

// current reports whether snap holds version v of its certificate (or v is
// none).
func current(snap *state.Snapshot, v certVersion) bool {
	if v.id == "" {
		return true
	}
	c := snap.Certificate(v.id)
	return c != nil && c.Version == v.version
}
