package egress_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/certbind/certbind/internal/egress"
)

// fakeResolver answers from a map and records what it was asked; a name
// not in the map is not found. No test looks a name up for real.
type fakeResolver struct {
	addrs map[string][]string

	mu    sync.Mutex
	asked []string
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.asked = append(r.asked, host)
	r.mu.Unlock()
	list, ok := r.addrs[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range list {
		a := netip.MustParseAddr(s)
		if network == "ip4" && !a.Unmap().Is4() || network == "ip6" && !a.Is6() {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

func (r *fakeResolver) wasAsked(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.asked {
		if h == host {
			return true
		}
	}
	return false
}

func prefixes(t *testing.T, s string) []netip.Prefix {
	t.Helper()
	p, err := egress.ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// localAddrs stands for the machine's addresses in tests of listeners on
// every address.
func localAddrs() ([]netip.Addr, error) {
	return []netip.Addr{
		netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("192.0.2.10"),
		netip.MustParseAddr("2001:db8::10"),
		netip.MustParseAddr("fe80::10"),
	}, nil
}

func TestPolicyCheck(t *testing.T) {
	loopback := "127.0.0.0/8,::1/128"
	resolver := &fakeResolver{addrs: map[string][]string{
		"certmgr.internal": {"10.0.0.5"},
		"rest.internal":    {"10.0.0.6", "fd00::6"},
		"localhost":        {"127.0.0.1", "::1"},
	}}
	for _, tc := range []struct {
		name         string
		allow, deny  string
		listeners    []egress.Endpoint
		controlPlane []egress.Endpoint
		addr         string
		rule         egress.Rule // 0: allowed
		reason       string      // the whole reason
	}{
		// Built-in denials.
		{name: "link-local IPv4", addr: "169.254.1.1:80", rule: egress.RuleBuiltin, reason: "link-local address"},
		{name: "link-local IPv6", addr: "[fe80::1]:80", rule: egress.RuleBuiltin, reason: "link-local address"},
		{name: "link-local IPv6 with a zone", addr: "[fe80::1%eth0]:80", rule: egress.RuleBuiltin, reason: "link-local address"},
		{name: "metadata", addr: "169.254.169.254:80", rule: egress.RuleBuiltin, reason: "cloud metadata address"},
		{name: "metadata on another port", addr: "169.254.169.254:8080", rule: egress.RuleBuiltin, reason: "cloud metadata address"},
		{name: "ECS credentials", addr: "169.254.170.2:80", rule: egress.RuleBuiltin, reason: "cloud metadata address (AWS ECS task credentials)"},
		{name: "AWS IMDS over IPv6", addr: "[fd00:ec2::254]:80", rule: egress.RuleBuiltin, reason: "cloud metadata address (AWS IMDS over IPv6)"},
		{name: "Google over IPv6", addr: "[fd20:ce::254]:80", rule: egress.RuleBuiltin, reason: "cloud metadata address (Google Cloud over IPv6)"},
		{name: "Alibaba", addr: "100.100.100.200:80", rule: egress.RuleBuiltin, reason: "cloud metadata address (Alibaba Cloud)"},
		{name: "Alibaba's neighbour is CGNAT space", addr: "100.100.100.201:80"},
		{name: "Oracle", addr: "192.0.0.192:80", rule: egress.RuleBuiltin, reason: "cloud metadata address (Oracle Cloud)"},
		{name: "Azure WireServer", addr: "168.63.129.16:80", rule: egress.RuleBuiltin, reason: "cloud metadata address (Azure WireServer)"},
		{name: "unspecified IPv4", addr: "0.0.0.0:80", rule: egress.RuleBuiltin, reason: "unspecified address (it means this host)"},
		{name: "this network", addr: "0.1.2.3:80", rule: egress.RuleBuiltin, reason: "unspecified address (it means this host)"},
		{name: "unspecified IPv6", addr: "[::]:80", rule: egress.RuleBuiltin, reason: "unspecified address (it means this host)"},
		{name: "multicast IPv4", addr: "224.0.0.1:80", rule: egress.RuleBuiltin, reason: "multicast address"},
		{name: "multicast IPv6", addr: "[ff02::1]:80", rule: egress.RuleBuiltin, reason: "multicast address"},
		{name: "broadcast", addr: "255.255.255.255:80", rule: egress.RuleBuiltin, reason: "broadcast address"},
		{name: "metadata through NAT64", addr: "[64:ff9b::a9fe:a9fe]:80", rule: egress.RuleBuiltin,
			reason: "cloud metadata address 169.254.169.254 behind the NAT64 prefix 64:ff9b::/96"},
		{name: "public address through NAT64", addr: "[64:ff9b::cb00:7107]:80"},

		// IPv4-mapped IPv6 addresses are checked as IPv4.
		{name: "mapped metadata", addr: "[::ffff:169.254.169.254]:80", rule: egress.RuleBuiltin, reason: "cloud metadata address"},
		{name: "mapped link-local", addr: "[::ffff:169.254.1.1]:80", rule: egress.RuleBuiltin, reason: "link-local address"},
		{name: "mapped loopback", addr: "[::ffff:127.0.0.1]:80", rule: egress.RuleLoopback,
			reason: "loopback is not allowed (add --backend-allow 127.0.0.0/8)"},
		{name: "mapped loopback allowed", allow: "127.0.0.0/8", addr: "[::ffff:127.0.0.1]:80"},
		{name: "mapped denied", deny: "10.0.0.0/8", addr: "[::ffff:10.1.2.3]:80", rule: egress.RuleDeny, reason: "denied by --backend-deny 10.0.0.0/8"},

		// No flag lifts a built-in denial.
		{name: "allow everything keeps metadata out", allow: "0.0.0.0/0,::/0", addr: "169.254.169.254:80", rule: egress.RuleBuiltin, reason: "cloud metadata address"},
		{name: "allow everything keeps link-local out", allow: "0.0.0.0/0,::/0", addr: "[fe80::1]:80", rule: egress.RuleBuiltin, reason: "link-local address"},
		{name: "allowing 168.63.0.0/16 keeps WireServer out", allow: "168.63.0.0/16", addr: "168.63.129.16:80", rule: egress.RuleBuiltin,
			reason: "cloud metadata address (Azure WireServer)"},

		// Loopback is refused unless allowed, each family by its own range.
		{name: "loopback IPv4", addr: "127.0.0.1:8080", rule: egress.RuleLoopback, reason: "loopback is not allowed (add --backend-allow 127.0.0.0/8)"},
		{name: "loopback IPv4 elsewhere in the range", addr: "127.5.6.7:8080", rule: egress.RuleLoopback, reason: "loopback is not allowed (add --backend-allow 127.0.0.0/8)"},
		{name: "loopback IPv6", addr: "[::1]:8080", rule: egress.RuleLoopback, reason: "loopback is not allowed (add --backend-allow ::1/128)"},
		{name: "loopback IPv6 with a zone", addr: "[::1%lo]:8080", rule: egress.RuleLoopback, reason: "loopback is not allowed (add --backend-allow ::1/128)"},
		{name: "loopback allowed", allow: loopback, addr: "127.0.0.1:8080"},
		{name: "loopback IPv6 allowed", allow: loopback, addr: "[::1]:8080"},
		{name: "IPv4 loopback allowed, IPv6 not", allow: "127.0.0.0/8", addr: "[::1]:8080", rule: egress.RuleLoopback,
			reason: "loopback is not allowed (add --backend-allow ::1/128)"},
		{name: "part of loopback allowed", allow: "127.0.0.1/32", addr: "127.0.0.2:8080", rule: egress.RuleLoopback,
			reason: "loopback is not allowed (add --backend-allow 127.0.0.0/8)"},

		// Everything else is allowed by default.
		{name: "public IPv4", addr: "203.0.113.7:443"},
		{name: "private IPv4", addr: "10.1.2.3:443"},
		{name: "public IPv6", addr: "[2001:db8::1]:443"},
		{name: "unique local IPv6", addr: "[fd00::1]:443"},
		{name: "nothing else is refused for an allow list", allow: "10.0.0.0/8", addr: "192.168.1.1:443"},

		// Deny, and Deny before Allow.
		{name: "denied", deny: "10.0.0.0/8", addr: "10.1.2.3:443", rule: egress.RuleDeny, reason: "denied by --backend-deny 10.0.0.0/8"},
		{name: "denied IPv6", deny: "fd00::/8", addr: "[fd12::1]:443", rule: egress.RuleDeny, reason: "denied by --backend-deny fd00::/8"},
		{name: "outside the denied range", deny: "10.0.0.0/8", addr: "11.0.0.1:443"},
		{name: "deny wins over a narrower allow", deny: "10.0.0.0/8", allow: "10.1.0.0/16", addr: "10.1.2.3:443", rule: egress.RuleDeny,
			reason: "denied by --backend-deny 10.0.0.0/8"},
		{name: "deny wins over a wider allow", deny: "10.1.0.0/16", allow: "10.0.0.0/8", addr: "10.1.2.3:443", rule: egress.RuleDeny,
			reason: "denied by --backend-deny 10.1.0.0/16"},
		{name: "deny wins over allow for loopback", deny: "127.0.0.0/8", allow: loopback, addr: "127.0.0.1:443", rule: egress.RuleDeny,
			reason: "denied by --backend-deny 127.0.0.0/8"},
		{name: "denied through NAT64", deny: "10.0.0.0/8", addr: "[64:ff9b::a00:1]:443", rule: egress.RuleDeny, reason: "denied by --backend-deny 10.0.0.0/8"},
		{name: "built-in before deny", deny: "169.254.0.0/16", addr: "169.254.169.254:80", rule: egress.RuleBuiltin, reason: "cloud metadata address"},

		// The edge's own listeners, before Deny and Allow.
		{name: "own listener", allow: loopback, listeners: []egress.Endpoint{{"--admin-listen", "127.0.0.1:8001"}},
			addr: "127.0.0.1:8001", rule: egress.RuleOwn, reason: "the edge's own listener --admin-listen"},
		{name: "own listener, other port", allow: loopback, listeners: []egress.Endpoint{{"--admin-listen", "127.0.0.1:8001"}}, addr: "127.0.0.1:8002"},
		{name: "own listener, other loopback address", allow: loopback, listeners: []egress.Endpoint{{"--admin-listen", "127.0.0.1:8001"}}, addr: "127.0.0.2:8001"},
		{name: "own listener, mapped", allow: loopback, listeners: []egress.Endpoint{{"--listen", "127.0.0.1:8000"}},
			addr: "[::ffff:127.0.0.1]:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "own listener given mapped", allow: loopback, listeners: []egress.Endpoint{{"--listen", "[::ffff:127.0.0.1]:8000"}},
			addr: "127.0.0.1:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "own listener before deny", deny: "10.0.0.0/8", listeners: []egress.Endpoint{{"--listen", "10.0.0.1:8000"}},
			addr: "10.0.0.1:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "own listener on an IPv6 address", listeners: []egress.Endpoint{{"--grpc-listen", "[2001:db8::10]:9000"}},
			addr: "[2001:db8::10]:9000", rule: egress.RuleOwn, reason: "the edge's own listener --grpc-listen"},
		{name: "own listener by name", allow: loopback, listeners: []egress.Endpoint{{"--listen", "localhost:8000"}},
			addr: "[::1]:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},

		// A listener on every address covers loopback and each local address.
		{name: "0.0.0.0 listener, loopback", allow: loopback, listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}},
			addr: "127.0.0.1:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "0.0.0.0 listener, any loopback address", allow: loopback, listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}},
			addr: "127.9.9.9:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "0.0.0.0 listener, IPv6 loopback", allow: loopback, listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}},
			addr: "[::1]:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "0.0.0.0 listener, local address", listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}},
			addr: "192.0.2.10:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "0.0.0.0 listener, local IPv6 address", listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}},
			addr: "[2001:db8::10]:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},
		{name: "0.0.0.0 listener, another machine", listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}}, addr: "192.0.2.11:8000"},
		{name: "0.0.0.0 listener, other port", listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}}, addr: "192.0.2.10:8001"},
		{name: "[::] listener", listeners: []egress.Endpoint{{"--admin-listen", "[::]:8001"}},
			addr: "192.0.2.10:8001", rule: egress.RuleOwn, reason: "the edge's own listener --admin-listen"},
		{name: "listener without a host", allow: loopback, listeners: []egress.Endpoint{{"--admin-listen", ":8001"}},
			addr: "127.0.0.1:8001", rule: egress.RuleOwn, reason: "the edge's own listener --admin-listen"},
		{name: "own listener before allow", allow: "0.0.0.0/0,::/0", listeners: []egress.Endpoint{{"--listen", "0.0.0.0:8000"}},
			addr: "192.0.2.10:8000", rule: egress.RuleOwn, reason: "the edge's own listener --listen"},

		// The control plane.
		{name: "control plane by address", controlPlane: []egress.Endpoint{{"--certmgr-addr", "10.0.0.5:9090"}},
			addr: "10.0.0.5:9090", rule: egress.RuleOwn, reason: "the control plane's address --certmgr-addr"},
		{name: "control plane by name", controlPlane: []egress.Endpoint{{"--certmgr-addr", "certmgr.internal:9090"}},
			addr: "10.0.0.5:9090", rule: egress.RuleOwn, reason: "the control plane's address --certmgr-addr"},
		{name: "control plane, other port", controlPlane: []egress.Endpoint{{"--certmgr-addr", "certmgr.internal:9090"}}, addr: "10.0.0.5:443"},
		{name: "control plane list", controlPlane: []egress.Endpoint{{"--deploytracker-addr", "10.0.0.7:9090, dns:///rest.internal:8080"}},
			addr: "[fd00::6]:8080", rule: egress.RuleOwn, reason: "the control plane's address --deploytracker-addr"},
		{name: "control plane on 0.0.0.0 is not every address", controlPlane: []egress.Endpoint{{"--rest-addr", "0.0.0.0:8080"}}, addr: "192.0.2.10:8080"},
		{name: "control plane name that does not resolve", controlPlane: []egress.Endpoint{{"--certmgr-addr", "gone.internal:9090"}},
			addr: "10.0.0.9:9090", rule: egress.RuleOwn,
			reason: `possibly the control plane's address --certmgr-addr (looking up "gone.internal" failed: lookup gone.internal: no such host)`},
		{name: "control plane name, the lookup is made only for its port", controlPlane: []egress.Endpoint{{"--certmgr-addr", "gone.internal:9090"}},
			addr: "10.0.0.9:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := egress.NewPolicy(egress.Config{
				Allow:        prefixes(t, tc.allow),
				Deny:         prefixes(t, tc.deny),
				Listeners:    tc.listeners,
				ControlPlane: tc.controlPlane,
				Resolver:     resolver,
				LocalAddrs:   localAddrs,
			})
			if err != nil {
				t.Fatal(err)
			}
			addr := netip.MustParseAddrPort(tc.addr)
			err = p.Check(context.Background(), addr)
			if tc.rule == 0 {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", addr, err)
				}
				return
			}
			var refused *egress.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("Check(%s) = %v, want a *RefusedError", addr, err)
			}
			if refused.Rule != tc.rule || refused.Reason != tc.reason || refused.Addr != addr {
				t.Fatalf("Check(%s) refused %s by %s for %q, want %s for %q", addr, refused.Addr, refused.Rule, refused.Reason, tc.rule, tc.reason)
			}
		})
	}
}

func TestPolicyLocalAddrsFail(t *testing.T) {
	p, err := egress.NewPolicy(egress.Config{
		Listeners:  []egress.Endpoint{{"--listen", "0.0.0.0:8000"}},
		LocalAddrs: func() ([]netip.Addr, error) { return nil, errors.New("netlink: permission denied") },
	})
	if err != nil {
		t.Fatal(err)
	}
	// What cannot be told apart from the edge's own listener is refused.
	err = p.Check(context.Background(), netip.MustParseAddrPort("192.0.2.11:8000"))
	want := "possibly the edge's own listener --listen on every address (listing the local addresses failed: netlink: permission denied)"
	var refused *egress.RefusedError
	if !errors.As(err, &refused) || refused.Reason != want {
		t.Fatalf("Check = %v, want the reason %q", err, want)
	}
	if err := p.Check(context.Background(), netip.MustParseAddrPort("192.0.2.11:8001")); err != nil {
		t.Fatalf("Check on another port = %v, want allowed", err)
	}
}

func TestNilPolicy(t *testing.T) {
	var p *egress.Policy
	ctx := context.Background()
	if err := p.Check(ctx, netip.MustParseAddrPort("203.0.113.7:443")); err != nil {
		t.Errorf("a public address: %v", err)
	}
	for _, s := range []string{"127.0.0.1:80", "169.254.169.254:80"} {
		if err := p.Check(ctx, netip.MustParseAddrPort(s)); err == nil {
			t.Errorf("%s was allowed", s)
		}
	}
}

func TestNewPolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  egress.Config
		want string // "": no error
	}{
		{"allow everything", egress.Config{Allow: prefixes(t, "0.0.0.0/0,::/0")}, ""},
		{"allow link-local", egress.Config{Allow: prefixes(t, "169.254.0.0/16")},
			"--backend-allow 169.254.0.0/16 lies within 169.254.0.0/16 (link-local address), which no flag allows (remove it)"},
		{"allow metadata", egress.Config{Allow: prefixes(t, "10.0.0.0/8,169.254.169.254")},
			"--backend-allow 169.254.169.254/32 lies within 169.254.169.254/32 (cloud metadata address), which no flag allows (remove it)"},
		{"allow IPv6 link-local", egress.Config{Allow: prefixes(t, "fe80::/64")},
			"--backend-allow fe80::/64 lies within fe80::/10 (link-local address), which no flag allows (remove it)"},
		{"port 0", egress.Config{Listeners: []egress.Endpoint{{"--listen", "127.0.0.1:0"}}},
			`--listen "127.0.0.1:0" has port 0: give the address the listener is bound to (its Addr()), or the policy cannot recognise it`},
		{"no port", egress.Config{Listeners: []egress.Endpoint{{"--listen", "127.0.0.1"}}},
			`--listen "127.0.0.1" is not host:port (address 127.0.0.1: missing port in address)`},
		{"port name", egress.Config{ControlPlane: []egress.Endpoint{{"--certmgr-addr", "certmgr:grpc"}}},
			`--certmgr-addr "certmgr:grpc" has the port "grpc", which is not a number from 1 to 65535`},
		{"bad entry in a list", egress.Config{ControlPlane: []egress.Endpoint{{"--certmgr-addr", "a:9090,b:70000"}}},
			`--certmgr-addr "b:70000" has the port "70000", which is not a number from 1 to 65535`},
		{"gRPC targets", egress.Config{ControlPlane: []egress.Endpoint{{"--certmgr-addr", "dns:///certmgr:9090,passthrough:///10.0.0.1:9090,unix:/run/certmgr.sock"}}}, ""},
		{"empty endpoint", egress.Config{Listeners: []egress.Endpoint{{"--grpc-listen", ""}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := egress.NewPolicy(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("NewPolicy: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("NewPolicy error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRefusedErrorSaysWhatToChange(t *testing.T) {
	for _, tc := range []struct {
		err  *egress.RefusedError
		want string
	}{
		{&egress.RefusedError{Host: "metadata.internal", Addr: netip.MustParseAddrPort("169.254.169.254:80"), Rule: egress.RuleBuiltin, Reason: "cloud metadata address"},
			`connection to "metadata.internal" (169.254.169.254:80) refused by the edge's egress policy: cloud metadata address; no flag allows it (point the route at the backend's own address)`},
		{&egress.RefusedError{Addr: netip.MustParseAddrPort("127.0.0.1:8001"), Rule: egress.RuleOwn, Reason: "the edge's own listener --admin-listen"},
			`connection to 127.0.0.1:8001 refused by the edge's egress policy: the edge's own listener --admin-listen; a route must not lead back to the edge or its control plane (point it at the backend)`},
		{&egress.RefusedError{Host: "certmgr", Addr: netip.AddrPortFrom(netip.Addr{}, 9090), Rule: egress.RuleOwn, Reason: "the control plane's address --certmgr-addr"},
			`connection to certmgr:9090 refused by the edge's egress policy: the control plane's address --certmgr-addr; a route must not lead back to the edge or its control plane (point it at the backend)`},
		{&egress.RefusedError{Addr: netip.MustParseAddrPort("10.1.2.3:443"), Rule: egress.RuleDeny, Reason: "denied by --backend-deny 10.0.0.0/8"},
			`connection to 10.1.2.3:443 refused by the edge's egress policy: denied by --backend-deny 10.0.0.0/8 (point the route at an allowed backend, or take the range out of --backend-deny)`},
		{&egress.RefusedError{Addr: netip.MustParseAddrPort("[::1]:443"), Rule: egress.RuleLoopback, Reason: "loopback is not allowed (add --backend-allow ::1/128)"},
			`connection to [::1]:443 refused by the edge's egress policy: loopback is not allowed (add --backend-allow ::1/128)`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() =\n%s\nwant\n%s", got, tc.want)
		}
	}
}

func TestRuleString(t *testing.T) {
	got := []string{egress.RuleBuiltin.String(), egress.RuleOwn.String(), egress.RuleDeny.String(), egress.RuleLoopback.String(), egress.Rule(0).String()}
	if want := "builtin own deny loopback Rule(0)"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
