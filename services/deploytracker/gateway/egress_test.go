package gateway

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestParseRefusesUnreachableBackends: a route whose URL names, as an IP
// address, one that the edge never connects to fails the deploy, with an
// error naming the route and the option.
func TestParseRefusesUnreachableBackends(t *testing.T) {
	const fix = "which the edge never connects to (point the route at the backend's own address)"
	vars := map[string]string{"HOST": "169.254.169.254", "NAME": "metadata.google.internal"}
	for _, tc := range []struct {
		name   string
		route  string
		option string
		want   string // the whole message; "" when the deploy goes through
	}{
		{"metadata", forward("/a", `"baseUrl": "http://169.254.169.254/latest"`), "baseUrl",
			`route 1 ("/a") option "baseUrl": "http://169.254.169.254/latest" has the host 169.254.169.254, a cloud metadata address, ` + fix},
		{"metadata in a rewrite", rewrite("/u/{id}", `"rewritePattern": "http://169.254.169.254/latest/${params.id}"`), "rewritePattern",
			`route 1 ("/u/{id}") option "rewritePattern": "http://169.254.169.254/latest/${params.id}" has the host 169.254.169.254, a cloud metadata address, ` + fix},
		{"metadata from a variable", forward("/a", `"baseUrl": "http://$env(HOST):80"`), "baseUrl",
			`route 1 ("/a") option "baseUrl": "http://169.254.169.254:80" (after $env substitution) has the host 169.254.169.254, a cloud metadata address, ` + fix},
		{"ECS credentials", forward("/a", `"baseUrl": "http://169.254.170.2"`), "baseUrl",
			"has the host 169.254.170.2, a cloud metadata address (AWS ECS task credentials), " + fix},
		{"AWS over IPv6", forward("/a", `"baseUrl": "http://[fd00:ec2::254]"`), "baseUrl",
			"has the host fd00:ec2::254, a cloud metadata address (AWS IMDS over IPv6), " + fix},
		{"Alibaba", forward("/a", `"baseUrl": "http://100.100.100.200"`), "baseUrl",
			"has the host 100.100.100.200, a cloud metadata address (Alibaba Cloud), " + fix},
		{"link-local", forward("/a", `"baseUrl": "https://169.254.10.1:8443"`), "baseUrl",
			"has the host 169.254.10.1, a link-local address, " + fix},
		{"link-local IPv6 with a zone", forward("/a", `"baseUrl": "https://[fe80::1%25eth0]:8443"`), "baseUrl",
			"has the host fe80::1%eth0, a link-local address, " + fix},
		{"IPv4-mapped metadata", forward("/a", `"baseUrl": "http://[::ffff:169.254.169.254]"`), "baseUrl",
			"has the host ::ffff:169.254.169.254, a cloud metadata address, " + fix},
		{"metadata through NAT64", forward("/a", `"baseUrl": "http://[64:ff9b::a9fe:a9fe]"`), "baseUrl",
			"has the host 64:ff9b::a9fe:a9fe, a cloud metadata address (169.254.169.254 behind the NAT64 prefix 64:ff9b::/96), " + fix},
		{"unspecified", forward("/a", `"baseUrl": "http://0.0.0.0:8000"`), "baseUrl",
			"has the host 0.0.0.0, an unspecified address (it means the edge's own host), " + fix},
		{"unspecified IPv6", forward("/a", `"baseUrl": "http://[::]:8000"`), "baseUrl",
			"has the host ::, an unspecified address (it means the edge's own host), " + fix},
		{"multicast", forward("/a", `"baseUrl": "http://239.1.2.3"`), "baseUrl",
			"has the host 239.1.2.3, a multicast address, " + fix},
		{"multicast IPv6", forward("/a", `"baseUrl": "http://[ff02::1]"`), "baseUrl",
			"has the host ff02::1, a multicast address, " + fix},
		{"broadcast", forward("/a", `"baseUrl": "http://255.255.255.255"`), "baseUrl",
			"has the host 255.255.255.255, the broadcast address, " + fix},
		{"metadata as one number", forward("/a", `"baseUrl": "http://2852039166/"`), "baseUrl",
			"has the host 2852039166 (169.254.169.254), a cloud metadata address, " + fix},
		{"metadata in hexadecimal", forward("/a", `"baseUrl": "http://0xa9.0xfe.0xa9.0xfe/"`), "baseUrl",
			"has the host 0xa9.0xfe.0xa9.0xfe (169.254.169.254), a cloud metadata address, " + fix},
		{"zero as one number", forward("/a", `"baseUrl": "http://0:8000/"`), "baseUrl",
			"has the host 0 (0.0.0.0), an unspecified address (it means the edge's own host), " + fix},

		// What the edge decides by its flags, or when it resolves a name.
		{"loopback", forward("/a", `"baseUrl": "https://127.0.0.1:9443"`), "", ""},
		{"loopback IPv6", forward("/a", `"baseUrl": "https://[::1]:9443"`), "", ""},
		{"loopback in an old spelling", forward("/a", `"baseUrl": "https://127.1:9443"`), "", ""},
		{"private", forward("/a", `"baseUrl": "http://10.0.0.1:8080/v1"`), "", ""},
		{"next to metadata", forward("/a", `"baseUrl": "http://169.253.169.254"`), "", ""},
		{"public through NAT64", forward("/a", `"baseUrl": "http://[64:ff9b::cb00:7107]"`), "", ""},
		{"a name", forward("/a", `"baseUrl": "http://metadata.google.internal"`), "", ""},
		{"a name from a variable", forward("/a", `"baseUrl": "http://$env(NAME)"`), "", ""},
		{"a name made of digits and letters", forward("/a", `"baseUrl": "http://0x1g.example"`), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(config(tc.route)), vars)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("Parse = %v, %v; want an *Error", cfg, err)
			}
			if perr.Route != 0 || perr.Option != tc.option || !strings.HasSuffix(perr.Msg, tc.want) {
				t.Fatalf("got route %d, option %q, message\n  %s\nwant route 0, option %q, message ending in\n  %s",
					perr.Route, perr.Option, perr.Msg, tc.option, tc.want)
			}
		})
	}

	// The route at fault is named when others come before it.
	_, err := Parse([]byte(config(forward("/a", base), forward("/b", `"baseUrl": "http://169.254.169.254"`))), nil)
	var perr *Error
	want := `route 2 ("/b") option "baseUrl": "http://169.254.169.254" has the host 169.254.169.254, a cloud metadata address, ` + fix
	if !errors.As(err, &perr) || perr.Route != 1 || perr.Option != "baseUrl" || perr.Msg != want {
		t.Fatalf("Parse = %v, want route 1, option baseUrl, message\n  %s", err, want)
	}
}

func TestHostAddr(t *testing.T) {
	for _, tc := range []struct {
		host    string
		want    string // "": not an address
		numeric bool
	}{
		{"169.254.169.254", "169.254.169.254", false},
		{"::1", "::1", false},
		{"fe80::1%eth0", "fe80::1%eth0", false},
		{"2852039166", "169.254.169.254", true},
		{"169.16689662", "169.254.169.254", true},
		{"169.254.43518", "169.254.169.254", true},
		{"0xA9.0xFE.0xA9.0xFE", "169.254.169.254", true},
		{"0251.0376.0251.0376", "169.254.169.254", true},
		{"0", "0.0.0.0", true},
		{"127.1", "127.0.0.1", true},
		{"010.1", "8.0.0.1", true},
		{"4294967295", "255.255.255.255", true},
		{"4294967296", "", false},
		{"256.1.1.1", "", false},
		{"1.2.3.256", "", false},
		{"1.2.65536", "", false},
		{"1.2.3.4.5", "", false},
		{"08.1.1.1", "", false},
		{"0x", "", false},
		{"1..2", "", false},
		{"1.2.3.", "", false},
		{"+1.2.3.4", "", false},
		{"backend", "", false},
		{"backend.example.com", "", false},
		{"", "", false},
	} {
		a, numeric := hostAddr(tc.host)
		got := ""
		if a.IsValid() {
			got = a.String()
		}
		if got != tc.want || numeric != tc.numeric {
			t.Errorf("hostAddr(%q) = %q, %v; want %q, %v", tc.host, got, numeric, tc.want, tc.numeric)
		}
	}
}

// TestNeverReachedIsOrdered: an address of a named metadata service is
// reported as that, not as the range that holds it, so each single
// address comes before any range that contains it.
func TestNeverReachedIsOrdered(t *testing.T) {
	for i, d := range neverReached {
		for _, earlier := range neverReached[:i] {
			if d.prefix.Bits() >= earlier.prefix.Bits() && earlier.prefix.Contains(d.prefix.Addr()) {
				t.Errorf("%s (%s) is hidden behind %s (%s)", d.prefix, d.what, earlier.prefix, earlier.what)
			}
		}
	}
	if what := neverReachedWhat(netip.MustParseAddr("169.254.169.254")); what != "a cloud metadata address" {
		t.Errorf("169.254.169.254 is %q", what)
	}
}
