package egress

import "net/netip"

// denial is a range that no flag allows, with the reason a refusal gives.
type denial struct {
	prefix netip.Prefix
	reason string
}

// builtins are refused whatever the flags say. The first match gives the
// reason, so single metadata addresses come before the ranges that hold
// them. The deploytracker refuses IP literals in the same ranges at deploy
// time (services/deploytracker/gateway/egress.go); the two lists change
// together.
var builtins = []denial{
	// Metadata services hand out the machine's or the workload's
	// credentials to anyone who can send them an HTTP request.
	{pfx("169.254.169.254/32"), "cloud metadata address"}, // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, Hetzner
	{pfx("169.254.170.2/32"), "cloud metadata address (AWS ECS task credentials)"},
	{pfx("169.254.170.23/32"), "cloud metadata address (AWS EKS Pod Identity)"},
	{pfx("fd00:ec2::254/128"), "cloud metadata address (AWS IMDS over IPv6)"},
	{pfx("fd00:ec2::23/128"), "cloud metadata address (AWS EKS Pod Identity over IPv6)"},
	{pfx("fd20:ce::254/128"), "cloud metadata address (Google Cloud over IPv6)"},
	{pfx("100.100.100.200/32"), "cloud metadata address (Alibaba Cloud)"},
	{pfx("192.0.0.192/32"), "cloud metadata address (Oracle Cloud)"},
	// Azure's WireServer serves a VM's extension settings, which carry
	// secrets, to any process on the VM.
	{pfx("168.63.129.16/32"), "cloud metadata address (Azure WireServer)"},

	// Linux connects to 0.0.0.0 and :: as to the local host, and
	// 0.0.0.0/8 is "this network", never a destination.
	{pfx("0.0.0.0/8"), "unspecified address (it means this host)"},
	{pfx("::/128"), "unspecified address (it means this host)"},
	{pfx("169.254.0.0/16"), "link-local address"},
	{pfx("fe80::/10"), "link-local address"},
	{pfx("224.0.0.0/4"), "multicast address"},
	{pfx("ff00::/8"), "multicast address"},
	{pfx("255.255.255.255/32"), "broadcast address"},
}

// nat64 is the well-known NAT64 prefix (RFC 6052): 64:ff9b::a9fe:a9fe is
// 169.254.169.254 to a network with a NAT64 gateway.
var nat64 = pfx("64:ff9b::/96")

// loopback4 and loopback6 are refused unless allowed.
var (
	loopback4 = pfx("127.0.0.0/8")
	loopback6 = pfx("::1/128")
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// builtinReason returns why a is refused by a built-in rule, or "". a is
// unmapped and has no zone.
func builtinReason(a netip.Addr) string {
	for _, d := range builtins {
		if d.prefix.Contains(a) {
			return d.reason
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address a NAT64 address stands for.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() || !nat64.Contains(a) {
		return netip.Addr{}, false
	}
	b := a.As16()
	return netip.AddrFrom4([4]byte(b[12:])), true
}
