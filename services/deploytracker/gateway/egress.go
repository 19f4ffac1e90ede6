package gateway

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/certbind/certbind/internal/route"
)

// neverReached are the addresses the edge refuses to connect to whatever
// its flags say (internal/egress, builtins.go: the two lists change
// together; this module does not import the edge's). A route whose URL
// names one as an IP address could never work, so the deploy is refused
// before anyone finds out from a 502. Names are resolved and checked by
// the edge when it connects, as are loopback and the edge's own
// listeners, which depend on its flags.
var neverReached = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "a cloud metadata address"},
	{netip.MustParsePrefix("169.254.170.2/32"), "a cloud metadata address (AWS ECS task credentials)"},
	{netip.MustParsePrefix("169.254.170.23/32"), "a cloud metadata address (AWS EKS Pod Identity)"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "a cloud metadata address (AWS IMDS over IPv6)"},
	{netip.MustParsePrefix("fd00:ec2::23/128"), "a cloud metadata address (AWS EKS Pod Identity over IPv6)"},
	{netip.MustParsePrefix("fd20:ce::254/128"), "a cloud metadata address (Google Cloud over IPv6)"},
	{netip.MustParsePrefix("100.100.100.200/32"), "a cloud metadata address (Alibaba Cloud)"},
	{netip.MustParsePrefix("192.0.0.192/32"), "a cloud metadata address (Oracle Cloud)"},
	{netip.MustParsePrefix("168.63.129.16/32"), "a cloud metadata address (Azure WireServer)"},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified address (it means the edge's own host)"},
	{netip.MustParsePrefix("::/128"), "an unspecified address (it means the edge's own host)"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "the broadcast address"},
}

// nat64Prefix holds IPv6 addresses that stand for IPv4 ones (RFC 6052).
var nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// egressProblem says why the edge would never connect to the host of a
// backend URL or rewrite pattern that has passed its other checks, or
// returns "". The message continues a sentence that has shown the URL.
func egressProblem(s string) string {
	// Placeholders are only ever in the path or query, never in the host.
	if literals, _, err := route.SplitRewrite(s); err == nil {
		s = strings.Join(literals, "x")
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	a, numeric := hostAddr(host)
	if !a.IsValid() {
		return ""
	}
	what := neverReachedWhat(a.Unmap().WithZone(""))
	if what == "" {
		return ""
	}
	shown := host
	if numeric {
		// The C library's resolver reads "2852039166" or
		// "0xa9.254.43518" as an IPv4 address.
		shown = fmt.Sprintf("%s (%s)", host, a)
	}
	return fmt.Sprintf("has the host %s, %s, which the edge never connects to (point the route at the backend's own address)", shown, what)
}

// neverReachedWhat says what a is, if the edge never connects to it.
func neverReachedWhat(a netip.Addr) string {
	for _, d := range neverReached {
		if d.prefix.Contains(a) {
			return d.what
		}
	}
	if a.Is6() && nat64Prefix.Contains(a) {
		b := a.As16()
		v4 := netip.AddrFrom4([4]byte(b[12:]))
		if what := neverReachedWhat(v4); what != "" {
			return fmt.Sprintf("%s (%s behind the NAT64 prefix %s)", what, v4, nat64Prefix)
		}
	}
	return ""
}

// hostAddr returns the IP address a URL's host is written as, if it is
// one. numeric is set for the older spellings of IPv4 addresses that the
// C library's resolver accepts: fewer than four parts, octal or
// hexadecimal.
func hostAddr(host string) (a netip.Addr, numeric bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, false
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if digits == "" || strings.ContainsAny(digits, "+-_") {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	// Each part but the last is a byte; the last fills the bytes left.
	var n uint64
	for i, v := range vals {
		last := i == len(vals)-1
		if !last && v > 0xff || last && v>>(8*(4-i)) != 0 {
			return netip.Addr{}, false
		}
		if !last {
			n |= v << (8 * (3 - i))
		} else {
			n |= v
		}
	}
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
