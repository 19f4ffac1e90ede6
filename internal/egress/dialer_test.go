package egress_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/egress"
)

// guard is a Control hook that records every address a socket is about to
// connect to, and stops (and fails the test at) any that is not loopback:
// these tests never send a packet off the machine, whatever the code under
// test does.
type guard struct {
	t     *testing.T
	mu    sync.Mutex
	dials []string
}

func (g *guard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	g.mu.Lock()
	g.dials = append(g.dials, address)
	g.mu.Unlock()
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		g.t.Errorf("a socket was about to connect to %s %s, which is not loopback", network, address)
		return fmt.Errorf("test guard: %s is not loopback", address)
	}
	return nil
}

func (g *guard) attempts() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.dials...)
}

// backend listens on 127.0.0.1 and greets every connection with "hi".
func backend(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	return ln
}

func portOf(ln net.Listener) string {
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// readGreeting checks that c reached a backend of this test.
func readGreeting(t *testing.T, c net.Conn) {
	t.Helper()
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("read %q, %v from the backend", buf, err)
	}
}

func newDialer(t *testing.T, cfg egress.Config, r *fakeResolver) (*egress.Dialer, *guard) {
	t.Helper()
	if cfg.Resolver == nil {
		cfg.Resolver = r
	}
	p, err := egress.NewPolicy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &guard{t: t}
	d := &egress.Dialer{Policy: p, Resolver: r, Net: net.Dialer{Timeout: 5 * time.Second, ControlContext: g.control}}
	return d, g
}

func allowLoopback(t *testing.T) egress.Config {
	return egress.Config{Allow: prefixes(t, "127.0.0.0/8,::1/128")}
}

// TestDialRefusesBeforeAnySocket dials addresses and names that lead to
// refused addresses: each is refused with the rule that applies, and no
// socket is ever made, which the guard would see.
func TestDialRefusesBeforeAnySocket(t *testing.T) {
	r := &fakeResolver{addrs: map[string][]string{
		"metadata.test":   {"169.254.169.254"},
		"linklocal.test":  {"fe80::1"},
		"mapped.test":     {"::ffff:169.254.169.254"},
		"nat64.test":      {"64:ff9b::a9fe:a9fe"},
		"aws6.test":       {"fd00:ec2::254"},
		"loopback.test":   {"127.0.0.1", "::1"},
		"all-denied.test": {"169.254.1.1", "169.254.169.254"},
	}}
	for _, tc := range []struct {
		address string
		host    string // the name the error gives
		addr    string // the address the error gives
		rule    egress.Rule
		reason  string
	}{
		{"169.254.169.254:80", "", "169.254.169.254:80", egress.RuleBuiltin, "cloud metadata address"},
		{"metadata.test:80", "metadata.test", "169.254.169.254:80", egress.RuleBuiltin, "cloud metadata address"},
		{"linklocal.test:443", "linklocal.test", "[fe80::1]:443", egress.RuleBuiltin, "link-local address"},
		{"[fe80::1%lo]:443", "", "[fe80::1%lo]:443", egress.RuleBuiltin, "link-local address"},
		{"mapped.test:80", "mapped.test", "169.254.169.254:80", egress.RuleBuiltin, "cloud metadata address"},
		{"[::ffff:169.254.169.254]:80", "", "169.254.169.254:80", egress.RuleBuiltin, "cloud metadata address"},
		{"nat64.test:80", "nat64.test", "[64:ff9b::a9fe:a9fe]:80", egress.RuleBuiltin, "cloud metadata address 169.254.169.254 behind the NAT64 prefix 64:ff9b::/96"},
		{"aws6.test:80", "aws6.test", "[fd00:ec2::254]:80", egress.RuleBuiltin, "cloud metadata address (AWS IMDS over IPv6)"},
		{"100.100.100.200:80", "", "100.100.100.200:80", egress.RuleBuiltin, "cloud metadata address (Alibaba Cloud)"},
		{"0.0.0.0:80", "", "0.0.0.0:80", egress.RuleBuiltin, "unspecified address (it means this host)"},
		{":80", "", "0.0.0.0:80", egress.RuleBuiltin, "unspecified address (it means this host)"},
		{"224.0.0.1:80", "", "224.0.0.1:80", egress.RuleBuiltin, "multicast address"},
		{"127.0.0.1:80", "", "127.0.0.1:80", egress.RuleLoopback, "loopback is not allowed (add --backend-allow 127.0.0.0/8)"},
		{"loopback.test:80", "loopback.test", "127.0.0.1:80", egress.RuleLoopback, "loopback is not allowed (add --backend-allow 127.0.0.0/8)"},
		{"all-denied.test:80", "all-denied.test", "169.254.1.1:80", egress.RuleBuiltin, "link-local address"},
	} {
		t.Run(tc.address, func(t *testing.T) {
			d, g := newDialer(t, egress.Config{}, r)
			c, err := d.DialContext(context.Background(), "tcp", tc.address)
			if err == nil {
				c.Close()
				t.Fatal("the dial succeeded")
			}
			var refused *egress.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("error %v is not a *RefusedError", err)
			}
			if refused.Host != tc.host || refused.Addr.String() != tc.addr || refused.Rule != tc.rule || refused.Reason != tc.reason {
				t.Fatalf("refused %q %s by %s for %q, want %q %s by %s for %q",
					refused.Host, refused.Addr, refused.Rule, refused.Reason, tc.host, tc.addr, tc.rule, tc.reason)
			}
			if a := g.attempts(); len(a) > 0 {
				t.Fatalf("sockets were made for %v", a)
			}
		})
	}
}

func TestDialAllowedLoopback(t *testing.T) {
	ln := backend(t)
	r := &fakeResolver{addrs: map[string][]string{"backend.test": {"127.0.0.1"}, "mapped.test": {"::ffff:127.0.0.1"}}}
	for _, address := range []string{ln.Addr().String(), "backend.test:" + portOf(ln), "mapped.test:" + portOf(ln), "[::ffff:127.0.0.1]:" + portOf(ln)} {
		t.Run(address, func(t *testing.T) {
			d, g := newDialer(t, allowLoopback(t), r)
			c, err := d.DialContext(context.Background(), "tcp", address)
			if err != nil {
				t.Fatal(err)
			}
			readGreeting(t, c)
			if a := g.attempts(); len(a) != 1 || a[0] != ln.Addr().String() {
				t.Fatalf("sockets were made for %v, want one for %s", a, ln.Addr())
			}
		})
	}
}

func TestDialAllowedIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	d, _ := newDialer(t, allowLoopback(t), &fakeResolver{})
	c, err := d.DialContext(context.Background(), "tcp6", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	readGreeting(t, c)
}

// TestDialMixedAnswer: a name that resolves to refused addresses and an
// allowed one is dialled at the allowed one only.
func TestDialMixedAnswer(t *testing.T) {
	ln := backend(t)
	r := &fakeResolver{addrs: map[string][]string{
		"mixed.test": {"169.254.169.254", "fe80::1", "::ffff:169.254.170.2", "127.0.0.1"},
	}}
	d, g := newDialer(t, allowLoopback(t), r)
	c, err := d.DialContext(context.Background(), "tcp", "mixed.test:"+portOf(ln))
	if err != nil {
		t.Fatal(err)
	}
	readGreeting(t, c)
	if a := g.attempts(); len(a) != 1 || a[0] != ln.Addr().String() {
		t.Fatalf("sockets were made for %v, want one for %s", a, ln.Addr())
	}
}

// TestDialTriesEachAllowedAddress: when the first allowed address does
// not answer, the next is tried.
func TestDialTriesEachAllowedAddress(t *testing.T) {
	ln := backend(t)
	// Nothing listens on 127.0.0.2 at that port: ln is bound to 127.0.0.1.
	r := &fakeResolver{addrs: map[string][]string{"two.test": {"127.0.0.2", "127.0.0.1"}}}
	d, g := newDialer(t, allowLoopback(t), r)
	c, err := d.DialContext(context.Background(), "tcp", "two.test:"+portOf(ln))
	if err != nil {
		t.Fatal(err)
	}
	readGreeting(t, c)
	want := []string{"127.0.0.2:" + portOf(ln), ln.Addr().String()}
	if a := g.attempts(); len(a) != 2 || a[0] != want[0] || a[1] != want[1] {
		t.Fatalf("sockets were made for %v, want %v", a, want)
	}
}

// TestDialOwnListener runs a real listener on 127.0.0.1:0 and tells the
// policy it is the edge's: a route to it is refused, by address and by a
// name, while loopback is allowed and another listener is reached.
func TestDialOwnListener(t *testing.T) {
	own := backend(t)
	other := backend(t)
	r := &fakeResolver{addrs: map[string][]string{"edge.test": {"127.0.0.1"}}}
	for _, listen := range []string{own.Addr().String(), "0.0.0.0:" + portOf(own), "[::]:" + portOf(own)} {
		t.Run(listen, func(t *testing.T) {
			cfg := allowLoopback(t)
			cfg.Listeners = []egress.Endpoint{{Flag: "--admin-listen", Addr: listen}}
			d, g := newDialer(t, cfg, r)
			for _, address := range []string{own.Addr().String(), "edge.test:" + portOf(own)} {
				_, err := d.DialContext(context.Background(), "tcp", address)
				var refused *egress.RefusedError
				if !errors.As(err, &refused) || refused.Rule != egress.RuleOwn || refused.Reason != "the edge's own listener --admin-listen" {
					t.Fatalf("dial %s: %v, want a refusal naming --admin-listen", address, err)
				}
			}
			if a := g.attempts(); len(a) > 0 {
				t.Fatalf("sockets were made for %v", a)
			}
			c, err := d.DialContext(context.Background(), "tcp", other.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			readGreeting(t, c)
		})
	}
}

// TestDialControlPlaneByName: a route that names the control plane as the
// edge knows it is refused before the name is looked up; by its address,
// once looked up.
func TestDialControlPlaneByName(t *testing.T) {
	ln := backend(t)
	r := &fakeResolver{addrs: map[string][]string{"certmgr.test": {"127.0.0.1"}}}
	cfg := allowLoopback(t)
	cfg.ControlPlane = []egress.Endpoint{{Flag: "--certmgr-addr", Addr: "certmgr.test:" + portOf(ln)}}
	p, err := egress.NewPolicy(egress.Config{Allow: cfg.Allow, ControlPlane: cfg.ControlPlane, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	byName := &fakeResolver{addrs: r.addrs}
	g := &guard{t: t}
	d := &egress.Dialer{Policy: p, Resolver: byName, Net: net.Dialer{ControlContext: g.control}}
	for _, address := range []string{"certmgr.test:" + portOf(ln), "CertMgr.Test.:" + portOf(ln), ln.Addr().String()} {
		_, err := d.DialContext(context.Background(), "tcp", address)
		var refused *egress.RefusedError
		if !errors.As(err, &refused) || refused.Rule != egress.RuleOwn || refused.Reason != "the control plane's address --certmgr-addr" {
			t.Fatalf("dial %s: %v, want a refusal naming --certmgr-addr", address, err)
		}
	}
	if byName.wasAsked("certmgr.test") || byName.wasAsked("CertMgr.Test.") {
		t.Error("the dialer looked up a name it should have refused as it is")
	}
	if a := g.attempts(); len(a) > 0 {
		t.Fatalf("sockets were made for %v", a)
	}
}

func TestDialOtherErrors(t *testing.T) {
	d, g := newDialer(t, allowLoopback(t), &fakeResolver{addrs: map[string][]string{"v4only.test": {"127.0.0.1"}}})
	for _, tc := range []struct {
		network, address string
	}{
		{"unix", "/run/backend.sock"},
		{"tcp", "no-port"},
		{"tcp", "unknown.test:80"},
		{"tcp6", "v4only.test:80"},
		{"tcp", "127.0.0.1:no-such-service"},
	} {
		_, err := d.DialContext(context.Background(), tc.network, tc.address)
		var refused *egress.RefusedError
		if err == nil || errors.As(err, &refused) {
			t.Errorf("dial %s %s: %v, want an error that is not a refusal", tc.network, tc.address, err)
		}
	}
	if a := g.attempts(); len(a) > 0 {
		t.Fatalf("sockets were made for %v", a)
	}
}

// TestDialCallersControlRuns: a Control hook of the caller's runs, and its
// error ends the dial.
func TestDialCallersControl(t *testing.T) {
	ln := backend(t)
	p, err := egress.NewPolicy(allowLoopback(t))
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	d := &egress.Dialer{Policy: p, Net: net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		calls++
		return errors.New("no sockets today")
	}}}
	if _, err := d.DialContext(context.Background(), "tcp", ln.Addr().String()); err == nil || calls != 1 {
		t.Fatalf("dial: %v after %d calls of Control, want its error after one", err, calls)
	}
}

// TestDialZeroDialer: the zero Dialer applies the zero Config: loopback is
// refused without a socket.
func TestDialZeroDialer(t *testing.T) {
	ln := backend(t)
	var d egress.Dialer
	_, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	var refused *egress.RefusedError
	if !errors.As(err, &refused) || refused.Rule != egress.RuleLoopback {
		t.Fatalf("dial: %v, want a loopback refusal", err)
	}
}
