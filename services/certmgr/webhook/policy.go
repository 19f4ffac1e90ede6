package webhook

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/certbind/certbind/internal/egress"
)

func bgCtx() context.Context { return context.Background() }

// addrPort is ip with u's port (or its scheme's).
func addrPort(ip netip.Addr, u *url.URL) netip.AddrPort {
	port := 443
	if u.Scheme == "http" {
		port = 80
	}
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	return netip.AddrPortFrom(ip, uint16(port))
}

func asRefused(err error) (*egress.RefusedError, bool) {
	var r *egress.RefusedError
	ok := errors.As(err, &r)
	return r, ok
}

// SetEgress sets the egress policy and URL rules, for a caller that knows
// its listeners only once they are bound. Call it before Run.
func (d *Dispatcher) SetEgress(p *egress.Policy, rules URLRules) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cfg.Policy, d.cfg.URLs = p, rules
	d.client = newClient(d.cfg)
}
