package deploy

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/certbind/certbind/services/deploytracker/gateway"
)

// checkLoop refuses a route whose backend is the edge that serves the
// deployment, as deployment URLs name it: each request would come back to
// the edge, which would answer it 508 (or refuse to connect to itself) at
// request time. Caught here, the deploy says so at once. Other addresses
// of the same edge (another name for it, its admin listener) are the
// edge's own egress policy's to refuse.
func checkLoop(cfg *gateway.Config, edgeURL string) error {
	edge, err := url.Parse(edgeURL)
	if err != nil || edge.Host == "" {
		return nil
	}
	self := hostPort(edge)
	for _, r := range cfg.Routes {
		option, raw := "baseUrl", r.BaseURL
		if r.RewritePattern != "" {
			// Placeholders are never in the scheme or host.
			option = "rewritePattern"
			raw, _, _ = strings.Cut(r.RewritePattern, "${")
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		if strings.EqualFold(hostPort(u), self) {
			return &InputError{Route: r.Index, Option: option, Msg: fmt.Sprintf(
				"route %d (%q) option %q: %q is the edge itself (%s), so every request would come back to it; point the route at the backend",
				r.Index+1, r.Path, option, raw, edgeURL)}
		}
	}
	return nil
}

// hostPort is u's host and port, with the scheme's port when u names none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}
