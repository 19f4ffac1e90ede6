package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Config is what a Policy is made of. The zero Config gives the built-in
// denials and refuses loopback.
type Config struct {
	// Allow is --backend-allow and Deny is --backend-deny.
	Allow, Deny []netip.Prefix
	// Listeners are the edge's own listeners: --listen, --admin-listen,
	// --grpc-listen. Give the address each is bound to, so that a port 0
	// in a flag does not hide the real one.
	Listeners []Endpoint
	// ControlPlane are the addresses of certmgr, the deploytracker and the
	// REST facade, as the edge is told them.
	ControlPlane []Endpoint
	// Resolver resolves the names in Listeners and ControlPlane; nil means
	// net.DefaultResolver.
	Resolver Resolver
	// LocalAddrs lists the machine's addresses, which a listener on
	// 0.0.0.0 or [::] accepts connections on; nil means
	// net.InterfaceAddrs.
	LocalAddrs func() ([]netip.Addr, error)
}

// Endpoint is an address the edge is given by a flag.
type Endpoint struct {
	// Flag says where the address came from, as in "--admin-listen"; a
	// refusal names it.
	Flag string
	// Addr is host:port, or a comma-separated list of them as
	// --certmgr-addr takes. The host may be a name, an IP address, or
	// empty, 0.0.0.0 or :: for a listener on every address. The "dns:///"
	// and "passthrough:///" prefixes of a gRPC target are ignored; a
	// "unix:" target has no IP address and is skipped.
	Addr string
}

// Policy decides which backend addresses the edge may connect to; the
// package documentation gives its rules. A Policy is safe for concurrent
// use. A nil *Policy is the policy of the zero Config.
type Policy struct {
	allow, deny []netip.Prefix
	own         []endpoint
	resolver    Resolver
	localAddrs  func() ([]netip.Addr, error)
}

// endpoint is one host:port of an Endpoint.
type endpoint struct {
	what     string     // the reason a refusal gives
	port     uint16     // never 0
	wildcard bool       // a listener on every local address
	addr     netip.Addr // when the host is an IP address: unmapped, no zone
	name     string     // when the host is a name: lower case, no final dot
}

// NewPolicy checks cfg and makes its Policy. Names in the endpoints are
// not resolved here but when an address with the same port is checked, so
// a control plane that moves is followed and a name that does not resolve
// yet does not stop the edge from starting.
func NewPolicy(cfg Config) (*Policy, error) {
	p := &Policy{
		allow:      cfg.Allow,
		deny:       cfg.Deny,
		resolver:   cfg.Resolver,
		localAddrs: cfg.LocalAddrs,
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	if p.localAddrs == nil {
		p.localAddrs = interfaceAddrs
	}
	for _, a := range cfg.Allow {
		for _, d := range builtins {
			if d.prefix.Bits() <= a.Bits() && d.prefix.Contains(a.Addr()) {
				return nil, fmt.Errorf("--backend-allow %s lies within %s (%s), which no flag allows (remove it)", a, d.prefix, d.reason)
			}
		}
	}
	for _, e := range cfg.Listeners {
		if err := p.addEndpoint(e, "the edge's own listener "+e.Flag, true); err != nil {
			return nil, err
		}
	}
	for _, e := range cfg.ControlPlane {
		if err := p.addEndpoint(e, "the control plane's address "+e.Flag, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Policy) addEndpoint(e Endpoint, what string, listener bool) error {
	for item := range strings.SplitSeq(e.Addr, ",") {
		item = strings.TrimSpace(item)
		if item == "" || strings.HasPrefix(item, "unix:") {
			continue
		}
		hostport := item
		for _, scheme := range []string{"dns:///", "passthrough:///"} {
			hostport = strings.TrimPrefix(hostport, scheme)
		}
		host, portText, err := net.SplitHostPort(hostport)
		if err != nil {
			return fmt.Errorf("%s %q is not host:port (%v)", e.Flag, item, err)
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return fmt.Errorf("%s %q has the port %q, which is not a number from 1 to 65535", e.Flag, item, portText)
		}
		if port == 0 {
			return fmt.Errorf("%s %q has port 0: give the address the listener is bound to (its Addr()), or the policy cannot recognise it", e.Flag, item)
		}
		ep := endpoint{what: what, port: uint16(port)}
		if a, err := netip.ParseAddr(host); err == nil {
			ep.addr = a.Unmap().WithZone("")
		} else if host != "" {
			ep.name = canonicalName(host)
		}
		ep.wildcard = listener && (host == "" || ep.addr.IsUnspecified())
		p.own = append(p.own, ep)
	}
	return nil
}

// canonicalName spells a host name the way two names that mean the same
// host compare equal.
func canonicalName(host string) string {
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

func interfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var list []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				list = append(list, ip.Unmap())
			}
		}
	}
	return list, nil
}

// zeroPolicy stands in for a nil *Policy.
var zeroPolicy = Policy{resolver: net.DefaultResolver, localAddrs: interfaceAddrs}

// Check returns nil when the edge may connect to addr, and a *RefusedError
// saying why not otherwise. ctx bounds the lookups of endpoint names that
// share addr's port.
func (p *Policy) Check(ctx context.Context, addr netip.AddrPort) error {
	if e := p.check(ctx, "", addr); e != nil {
		return e
	}
	return nil
}

// check applies the rules in the order of the package documentation. host
// is the name addr was resolved from, for the error.
func (p *Policy) check(ctx context.Context, host string, addr netip.AddrPort) *RefusedError {
	if p == nil {
		p = &zeroPolicy
	}
	refuse := func(r Rule, reason string) *RefusedError {
		return &RefusedError{Host: host, Addr: addr, Rule: r, Reason: reason}
	}
	a := addr.Addr().Unmap().WithZone("")
	if !a.IsValid() {
		return refuse(RuleBuiltin, "not an IP address")
	}
	if reason := builtinReason(a); reason != "" {
		return refuse(RuleBuiltin, reason)
	}
	v4, isNAT64 := embeddedIPv4(a)
	if isNAT64 {
		if reason := builtinReason(v4); reason != "" {
			return refuse(RuleBuiltin, fmt.Sprintf("%s %s behind the NAT64 prefix %s", reason, v4, nat64))
		}
	}
	if reason := p.ownReason(ctx, a, addr.Port()); reason != "" {
		return refuse(RuleOwn, reason)
	}
	for _, d := range p.deny {
		if d.Contains(a) || isNAT64 && d.Contains(v4) {
			return refuse(RuleDeny, "denied by --backend-deny "+d.String())
		}
	}
	for _, al := range p.allow {
		if al.Contains(a) {
			return nil
		}
	}
	switch {
	case loopback4.Contains(a):
		return refuse(RuleLoopback, "loopback is not allowed (add --backend-allow "+loopback4.String()+")")
	case loopback6.Contains(a):
		return refuse(RuleLoopback, "loopback is not allowed (add --backend-allow "+loopback6.String()+")")
	}
	return nil
}

// ownReason says which of the edge's or the control plane's endpoints a
// is with port, or returns "". A lookup that fails refuses the address:
// what cannot be told apart from the control plane is not dialled.
func (p *Policy) ownReason(ctx context.Context, a netip.Addr, port uint16) string {
	for _, e := range p.own {
		if e.port != port {
			continue
		}
		switch {
		case e.wildcard && a.IsLoopback():
			return e.what
		case e.wildcard:
			local, err := p.localAddrs()
			if err != nil {
				return fmt.Sprintf("possibly %s on every address (listing the local addresses failed: %v)", e.what, err)
			}
			for _, l := range local {
				if l.Unmap().WithZone("") == a {
					return e.what
				}
			}
		case e.addr.IsValid():
			if e.addr == a {
				return e.what
			}
		default:
			addrs, err := p.resolver.LookupNetIP(ctx, "ip", e.name)
			if err != nil {
				return fmt.Sprintf("possibly %s (looking up %q failed: %v)", e.what, e.name, err)
			}
			for _, x := range addrs {
				if x.Unmap().WithZone("") == a {
					return e.what
				}
			}
		}
	}
	return ""
}

// nameReason says which endpoint the name host with port is, or returns
// "". It catches a route that names the control plane as it is named to
// the edge, before any lookup.
func (p *Policy) nameReason(host string, port uint16) string {
	if p == nil {
		return ""
	}
	host = canonicalName(host)
	for _, e := range p.own {
		if e.name != "" && e.port == port && e.name == host {
			return e.what
		}
	}
	return ""
}
