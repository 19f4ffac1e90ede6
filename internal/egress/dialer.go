package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Resolver looks up the addresses of a host name. *net.Resolver is one;
// tests give their own, so that no name is looked up for real.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Dialer connects to backends at the addresses its Policy allows, and
// nowhere else. Its zero value applies the policy of the zero Config.
//
// A name is resolved by the Dialer itself and every address it resolves
// to is checked; the addresses refused are skipped and the others are
// tried in the resolver's order, so what is checked is what is dialled.
// Skipping rather than refusing the whole name means that a refused
// address slipped into a backend's DNS answer (a shared zone, a wildcard
// record, a rebinding attack) is never contacted, yet costs the route
// nothing while the backend's own address answers; a name whose every
// address is refused fails with the *RefusedError of the first.
type Dialer struct {
	Policy *Policy
	// Resolver resolves backend names; nil means net.DefaultResolver.
	Resolver Resolver
	// Net is the template of every connection: Timeout, KeepAlive,
	// LocalAddr and so on. Its Control or ControlContext hook, if set,
	// runs right before the policy checks the address once more.
	Net net.Dialer
}

// DialContext connects to address ("host:port") on the network "tcp",
// "tcp4" or "tcp6" (or their udp counterparts), as net.Dialer.DialContext
// does, if the policy allows the address. A refusal is a *RefusedError,
// returned before anything is sent.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var ipNetwork string
	switch network {
	case "tcp", "udp":
		ipNetwork = "ip"
	case "tcp4", "udp4":
		ipNetwork = "ip4"
	case "tcp6", "udp6":
		ipNetwork = "ip6"
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("egress: network %q has no IP addresses to check (use tcp)", network)}
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	port, err := lookupPort(ctx, network, portText)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	addrs, name, err := d.resolve(ctx, ipNetwork, host, port)
	if err != nil {
		return nil, err
	}
	var (
		allowed []netip.AddrPort
		refused *RefusedError
	)
	for _, a := range addrs {
		// Unmap drops the zone only of an IPv4-mapped address, which
		// has no use for one.
		ap := netip.AddrPortFrom(a.Unmap(), port)
		if r := d.Policy.check(ctx, name, ap); r != nil {
			if refused == nil {
				refused = r
			}
			continue
		}
		allowed = append(allowed, ap)
	}
	if len(allowed) == 0 {
		if refused != nil {
			return nil, refused
		}
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}}
	}
	return d.dialEach(ctx, network, allowed)
}

// resolve returns the addresses host stands for, and the name to report
// with them ("" for an address). A host that names the control plane as
// the edge was told it is refused before it is looked up.
func (d *Dialer) resolve(ctx context.Context, ipNetwork, host string, port uint16) ([]netip.Addr, string, error) {
	switch {
	case host == "":
		// net.Dial takes an empty host for the local system.
		if ipNetwork == "ip6" {
			return []netip.Addr{netip.IPv6Unspecified()}, "", nil
		}
		return []netip.Addr{netip.IPv4Unspecified()}, "", nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, "", nil
	}
	if reason := d.Policy.nameReason(host, port); reason != "" {
		return nil, "", &RefusedError{Host: host, Addr: netip.AddrPortFrom(netip.Addr{}, port), Rule: RuleOwn, Reason: reason}
	}
	var r Resolver = net.DefaultResolver
	if d.Resolver != nil {
		r = d.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, ipNetwork, host)
	if err != nil {
		return nil, "", &net.OpError{Op: "dial", Net: ipNetwork, Err: err}
	}
	return addrs, host, nil
}

func lookupPort(ctx context.Context, network, text string) (uint16, error) {
	if n, err := strconv.ParseUint(text, 10, 16); err == nil {
		return uint16(n), nil
	}
	n, err := net.DefaultResolver.LookupPort(ctx, network, text)
	if err != nil {
		return 0, err
	}
	return uint16(n), nil
}

// minAttempt is the least time an address is given when several share
// the dial's time, as net.Dialer gives them.
const minAttempt = 2 * time.Second

// dialEach tries the addresses in order until one connects, sharing the
// dial's time among those left, and returns the first error if none does.
func (d *Dialer) dialEach(ctx context.Context, network string, addrs []netip.AddrPort) (net.Conn, error) {
	nd := d.Net
	end := nd.Deadline
	if nd.Timeout > 0 {
		if t := time.Now().Add(nd.Timeout); end.IsZero() || t.Before(end) {
			end = t
		}
	}
	if t, ok := ctx.Deadline(); ok && (end.IsZero() || t.Before(end)) {
		end = t
	}
	nd.Timeout, nd.Deadline = 0, time.Time{}
	nd.Control, nd.ControlContext = nil, d.control
	var first error
	for i, ap := range addrs {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if !end.IsZero() {
			actx, cancel = context.WithDeadline(ctx, attemptEnd(time.Now(), end, len(addrs)-i))
		}
		c, err := nd.DialContext(actx, network, ap.String())
		cancel()
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		var refused *RefusedError
		if ctx.Err() != nil || errors.As(err, &refused) {
			break
		}
	}
	return nil, first
}

// attemptEnd is when one of n remaining attempts must give up, for a dial
// that must end at end.
func attemptEnd(now, end time.Time, n int) time.Time {
	left := end.Sub(now)
	if left <= 0 || n <= 1 {
		return end
	}
	share := max(left/time.Duration(n), min(minAttempt, left))
	return now.Add(share)
}

// control runs on the socket right before connect: the caller's hook, if
// any, then the policy once more, against the address in the system call.
// A mistake anywhere above cannot send a packet to a refused address.
func (d *Dialer) control(ctx context.Context, network, address string, c syscall.RawConn) error {
	switch {
	case d.Net.ControlContext != nil:
		if err := d.Net.ControlContext(ctx, network, address, c); err != nil {
			return err
		}
	case d.Net.Control != nil:
		if err := d.Net.Control(network, address, c); err != nil {
			return err
		}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: cannot check the address %q before connecting: %w", address, err)
	}
	return d.Policy.Check(ctx, ap)
}
