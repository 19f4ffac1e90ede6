package egress

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Prefixes is a list of CIDRs given on the command line, as --backend-allow
// and --backend-deny take them: comma-separated, and the flag repeatable.
// It implements flag.Value; each Set adds to the list.
//
//	var allow, deny egress.Prefixes
//	fs.Var(&allow, "backend-allow", "CIDRs routes may reach ...")
type Prefixes []netip.Prefix

// String returns the list as Set takes it.
func (p *Prefixes) String() string {
	if p == nil {
		return ""
	}
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

// Set adds the CIDRs of a comma-separated list. An empty value adds
// nothing, so that a flag set from an empty environment variable means no
// entries.
func (p *Prefixes) Set(s string) error {
	list, err := ParsePrefixes(s)
	if err != nil {
		return err
	}
	*p = append(*p, list...)
	return nil
}

// ParsePrefixes parses a comma-separated list of CIDRs such as
// "10.0.0.0/8, fd00::/8". A bare address stands for itself alone (a /32 or
// /128). The error names the entry at fault and what to write instead.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	items := strings.Split(s, ",")
	var list []netip.Prefix
	for i, item := range items {
		p, err := parsePrefix(strings.TrimSpace(item))
		if err != nil && len(items) > 1 {
			return nil, fmt.Errorf("entry %d of %d: %w", i+1, len(items), err)
		}
		if err != nil {
			return nil, err
		}
		list = append(list, p)
	}
	return list, nil
}

// maxShown bounds how much of a bad entry an error repeats, in characters
// as quoted.
const maxShown = 64

// quoteShort quotes s for an error, cut to maxShown quoted characters.
func quoteShort(s string) string {
	if q := strconv.Quote(s); len(q) <= maxShown+2 {
		return q
	}
	// A byte may take four characters quoted ("\xf8"): shorten the input
	// until its quoted form fits, so that a message stays one short line.
	n := min(len(s), maxShown)
	for n > 0 && len(strconv.Quote(s[:n])) > maxShown+2 {
		n--
	}
	return strconv.Quote(s[:n]) + "…"
}

func parsePrefix(s string) (netip.Prefix, error) {
	shown := quoteShort(s)
	switch {
	case s == "":
		return netip.Prefix{}, fmt.Errorf(`%s is empty (remove the extra comma)`, shown)
	case strings.ContainsAny(s, " \t"):
		return netip.Prefix{}, fmt.Errorf("%s has a space in it (separate entries with commas)", shown)
	}
	addrPart, bitsPart, hasBits := strings.Cut(s, "/")
	if strings.Contains(addrPart, "%") {
		return netip.Prefix{}, fmt.Errorf("%s has an IPv6 zone (write the range without %%zone, e.g. fe80::/10)", shown)
	}
	a, err := netip.ParseAddr(addrPart)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s is not a CIDR (write an IP address and a prefix length, e.g. 10.0.0.0/8 or fd00::/8)", shown)
	}
	if a.Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%s is an IPv4-mapped IPv6 range, which never matches: addresses are checked as IPv4 (write it as an IPv4 range, e.g. %s)",
			shown, mappedHint(a, bitsPart, hasBits))
	}
	if !hasBits {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	bits, err := strconv.Atoi(bitsPart)
	if err != nil || bitsPart != strconv.Itoa(bits) || bits < 0 || bits > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("%s has the prefix length %s, which is not a number from 0 to %d", shown, quoteShort(bitsPart), a.BitLen())
	}
	p := netip.PrefixFrom(a, bits)
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%s has bits set after the first %d (did you mean %s?)", shown, bits, p.Masked())
	}
	return p, nil
}

// mappedHint is the IPv4 spelling of an IPv4-mapped range, for a message.
func mappedHint(a netip.Addr, bitsPart string, hasBits bool) string {
	bits := 32
	if hasBits {
		n, err := strconv.Atoi(bitsPart)
		if err != nil || n < 96 || n > 128 {
			return a.Unmap().String() + "/32"
		}
		bits = n - 96
	}
	return netip.PrefixFrom(a.Unmap(), bits).Masked().String()
}
