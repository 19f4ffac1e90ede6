package egress_test

import (
	"flag"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/egress"
)

func TestParsePrefixes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the list as String gives it
	}{
		{"", ""},
		{"  ", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.0.0.0/8,fd00::/8", "10.0.0.0/8,fd00::/8"},
		{" 10.0.0.0/8 , 192.168.0.0/16 ", "10.0.0.0/8,192.168.0.0/16"},
		{"10.1.2.3", "10.1.2.3/32"},
		{"::1", "::1/128"},
		{"0.0.0.0/0,::/0", "0.0.0.0/0,::/0"},
		{"127.0.0.0/8,::1/128", "127.0.0.0/8,::1/128"},
		{"FD00::/8", "fd00::/8"},
	} {
		var p egress.Prefixes
		if err := p.Set(tc.in); err != nil {
			t.Errorf("Set(%q): %v", tc.in, err)
			continue
		}
		if got := p.String(); got != tc.want {
			t.Errorf("Set(%q) gave %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParsePrefixesErrors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"10.0.0.300/8", `"10.0.0.300/8" is not a CIDR (write an IP address and a prefix length, e.g. 10.0.0.0/8 or fd00::/8)`},
		{"example.com", `"example.com" is not a CIDR (write an IP address and a prefix length, e.g. 10.0.0.0/8 or fd00::/8)`},
		{"/8", `"/8" is not a CIDR (write an IP address and a prefix length, e.g. 10.0.0.0/8 or fd00::/8)`},
		{"10.0.0.1/8", `"10.0.0.1/8" has bits set after the first 8 (did you mean 10.0.0.0/8?)`},
		{"fd00::1/8", `"fd00::1/8" has bits set after the first 8 (did you mean fd00::/8?)`},
		{"10.0.0.0/33", `"10.0.0.0/33" has the prefix length "33", which is not a number from 0 to 32`},
		{"::/129", `"::/129" has the prefix length "129", which is not a number from 0 to 128`},
		{"10.0.0.0/", `"10.0.0.0/" has the prefix length "", which is not a number from 0 to 32`},
		{"10.0.0.0/-1", `"10.0.0.0/-1" has the prefix length "-1", which is not a number from 0 to 32`},
		{"10.0.0.0/08", `"10.0.0.0/08" has the prefix length "08", which is not a number from 0 to 32`},
		{"10.0.0.0/+8", `"10.0.0.0/+8" has the prefix length "+8", which is not a number from 0 to 32`},
		{"10.0.0.0/8/8", `"10.0.0.0/8/8" has the prefix length "8/8", which is not a number from 0 to 32`},
		{"fe80::%eth0/10", `"fe80::%eth0/10" has an IPv6 zone (write the range without %zone, e.g. fe80::/10)`},
		{"::ffff:10.0.0.0/104", `"::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 range, which never matches: addresses are checked as IPv4 (write it as an IPv4 range, e.g. 10.0.0.0/8)`},
		{"::ffff:10.1.2.3", `"::ffff:10.1.2.3" is an IPv4-mapped IPv6 range, which never matches: addresses are checked as IPv4 (write it as an IPv4 range, e.g. 10.1.2.3/32)`},
		{"10.0.0.0/8,", `entry 2 of 2: "" is empty (remove the extra comma)`},
		{"10.0.0.0/8,,fd00::/8", `entry 2 of 3: "" is empty (remove the extra comma)`},
		{"10.0.0.0/8 fd00::/8", `"10.0.0.0/8 fd00::/8" has a space in it (separate entries with commas)`},
		{"10.0.0.0/8,fd00::1/8", `entry 2 of 2: "fd00::1/8" has bits set after the first 8 (did you mean fd00::/8?)`},
		{strings.Repeat("1", 100), `"` + strings.Repeat("1", 64) + `"… is not a CIDR (write an IP address and a prefix length, e.g. 10.0.0.0/8 or fd00::/8)`},
	} {
		got, err := egress.ParsePrefixes(tc.in)
		if err == nil {
			t.Errorf("ParsePrefixes(%q) = %v, want an error", tc.in, got)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParsePrefixes(%q) error =\n%s\nwant\n%s", tc.in, err, tc.want)
		}
	}
}

// TestPrefixesFlag uses Prefixes as the edge's flags do: repeatable, each
// value a comma-separated list, and a bad value named by its flag.
func TestPrefixesFlag(t *testing.T) {
	newFlags := func() (*flag.FlagSet, *egress.Prefixes) {
		fs := flag.NewFlagSet("edge", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var deny egress.Prefixes
		fs.Var(&deny, "backend-deny", "CIDRs routes must not reach")
		return fs, &deny
	}
	fs, deny := newFlags()
	if err := fs.Parse([]string{"--backend-deny", "10.0.0.0/8", "--backend-deny=fd00::/8, 192.168.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.168.0.0/16")}
	if !slices.Equal(*deny, want) {
		t.Fatalf("got %v, want %v", *deny, want)
	}

	fs, _ = newFlags()
	err := fs.Parse([]string{"--backend-deny", "10.0.0.1/8"})
	if want := `invalid value "10.0.0.1/8" for flag -backend-deny: "10.0.0.1/8" has bits set after the first 8 (did you mean 10.0.0.0/8?)`; err == nil || err.Error() != want {
		t.Fatalf("Parse error = %v, want %q", err, want)
	}

	var nilList *egress.Prefixes
	if s := nilList.String(); s != "" {
		t.Fatalf("String of a nil *Prefixes = %q", s)
	}
}

// FuzzParsePrefixes checks that the parser of --backend-allow and
// --backend-deny never panics, that what it accepts is a list of canonical
// ranges that parses back to itself, and that its errors stay one short
// line whatever the input.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{
		"", "10.0.0.0/8", "10.0.0.0/8,fd00::/8", "10.1.2.3", "::1", "10.0.0.1/8", "::ffff:10.0.0.0/104",
		"fe80::%eth0/10", "10.0.0.0/8,,", "1.2.3.4/32/", "0.0.0.0/0", "::/0", "[::1]/128", "1.2.3.4/1_0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		list, err := egress.ParsePrefixes(s)
		if err != nil {
			msg := err.Error()
			if list != nil {
				t.Fatalf("ParsePrefixes(%q) returned %v with the error %v", s, list, err)
			}
			if len(msg) > 400 || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("ParsePrefixes(%q) error is not one short line: %q", s, msg)
			}
			return
		}
		for _, p := range list {
			if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("ParsePrefixes(%q) accepted %v", s, p)
			}
		}
		var again egress.Prefixes
		if err := again.Set((*egress.Prefixes)(&list).String()); err != nil {
			t.Fatalf("ParsePrefixes(%q) = %v, whose String does not parse: %v", s, list, err)
		}
		if !slices.Equal(again, list) {
			t.Fatalf("ParsePrefixes(%q) = %v, parsed back as %v", s, list, []netip.Prefix(again))
		}
	})
}
