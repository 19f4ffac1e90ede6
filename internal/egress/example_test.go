package egress_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/certbind/certbind/internal/egress"
)

// The edge's policy as certbind dev would make it: loopback allowed for
// local backends, the edge's own listeners and the control plane refused.
func ExampleNewPolicy() {
	var allow egress.Prefixes
	allow.Set("127.0.0.0/8,::1/128")
	p, err := egress.NewPolicy(egress.Config{
		Allow:        allow,
		Listeners:    []egress.Endpoint{{Flag: "--listen", Addr: "127.0.0.1:8000"}, {Flag: "--admin-listen", Addr: "127.0.0.1:8001"}},
		ControlPlane: []egress.Endpoint{{Flag: "--certmgr-addr", Addr: "127.0.0.1:9090"}},
	})
	if err != nil {
		panic(err)
	}
	for _, a := range []string{"127.0.0.1:9443", "127.0.0.1:8001", "169.254.169.254:80", "203.0.113.7:443"} {
		err := p.Check(context.Background(), netip.MustParseAddrPort(a))
		fmt.Printf("%s: %v\n", a, err)
	}
	// Output:
	// 127.0.0.1:9443: <nil>
	// 127.0.0.1:8001: connection to 127.0.0.1:8001 refused by the edge's egress policy: the edge's own listener --admin-listen; a route must not lead back to the edge or its control plane (point it at the backend)
	// 169.254.169.254:80: connection to 169.254.169.254:80 refused by the edge's egress policy: cloud metadata address; no flag allows it (point the route at the backend's own address)
	// 203.0.113.7:443: <nil>
}

// A Dialer takes the place of a net.Dialer wherever the edge connects to a
// backend.
func ExampleDialer() {
	p, err := egress.NewPolicy(egress.Config{})
	if err != nil {
		panic(err)
	}
	d := &egress.Dialer{Policy: p, Net: net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}}
	_, err = d.DialContext(context.Background(), "tcp", "[fd00:ec2::254]:80")
	fmt.Println(err)
	// Output:
	// connection to [fd00:ec2::254]:80 refused by the edge's egress policy: cloud metadata address (AWS IMDS over IPv6); no flag allows it (point the route at the backend's own address)
}
