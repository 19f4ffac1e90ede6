package webhook

import (
	"strings"
	"testing"
)

func TestParseURLAccepts(t *testing.T) {
	for _, tc := range []struct {
		raw   string
		rules URLRules
		want  string
	}{
		{"https://hooks.example.com/certbind", URLRules{}, "https://hooks.example.com/certbind"},
		{"https://Hooks.Example.COM:8443/a?b=c", URLRules{}, "https://hooks.example.com:8443/a?b=c"},
		{"https://203.0.113.7/x", URLRules{}, "https://203.0.113.7/x"},
		{"https://[2001:db8::1]:443/x", URLRules{}, "https://[2001:db8::1]:443/x"},
		{"http://127.0.0.1:8081/x", URLRules{AllowHTTPLoopback: true}, "http://127.0.0.1:8081/x"},
		{"http://localhost/x", URLRules{AllowHTTPLoopback: true}, "http://localhost/x"},
		{"http://[::1]:9/x", URLRules{AllowHTTPLoopback: true}, "http://[::1]:9/x"},
		{"https://under_score.example.com/", URLRules{}, "https://under_score.example.com/"},
	} {
		u, err := ParseURL(tc.raw, tc.rules)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.raw, err)
			continue
		}
		if u.String() != tc.want {
			t.Errorf("ParseURL(%q) = %q, want %q", tc.raw, u.String(), tc.want)
		}
	}
}

func TestParseURLRefuses(t *testing.T) {
	dev := URLRules{AllowHTTPLoopback: true}
	for _, tc := range []struct {
		raw   string
		rules URLRules
		want  string
	}{
		{"", URLRules{}, "empty"},
		{"https://" + strings.Repeat("a", MaxURLLen), URLRules{}, "longer than"},
		{"http://hooks.example.com/", URLRules{}, "must be https"},
		{"http://hooks.example.com/", dev, "loopback only"},
		{"http://127.0.0.1/", URLRules{}, "must be https"},
		{"http://10.0.0.1/", dev, "loopback only"},
		{"ftp://hooks.example.com/", URLRules{}, "must be https"},
		{"gopher://127.0.0.1:25/", dev, "must be https"},
		{"file:///etc/passwd", URLRules{}, "must be https"},
		{"https:hooks.example.com", URLRules{}, "no host"},
		{"https:///path", URLRules{}, "no host"},
		{"//hooks.example.com/x", URLRules{}, "must be https"},
		{"hooks.example.com/x", URLRules{}, "must be https"},
		{"https://user:pw@hooks.example.com/", URLRules{}, "user information"},
		{"https://user@hooks.example.com/", URLRules{}, "user information"},
		{"https://hooks.example.com/#frag", URLRules{}, "fragment"},
		{"https://hooks.example.com:0/", URLRules{}, "port"},
		{"https://hooks.example.com:65536/", URLRules{}, "port"},
		{"https://hooks.example.com:080/", URLRules{}, "port"},
		{"https://hooks.example.com:/", URLRules{}, "empty port"},
		{"https://hooks.example.com:http/", URLRules{}, "port"},
		{"https://hooks example.com/", URLRules{}, "space"},
		{"https://hooks.example.com/a b", URLRules{}, "space"},
		{"https://hooks.example.com/\x00", URLRules{}, "control"},
		{"https://hooks.example.com/\r\nHost: evil", URLRules{}, "control"},
		{"https://hööks.example.com/", URLRules{}, "non-ASCII"},
		{"https://hooks.example.com/\xff", URLRules{}, "UTF-8"},
		{"https://[fe80::1%25eth0]/", URLRules{}, "zone"},
		{"https://2130706433/", URLRules{}, "number"},
		{"https://0x7f000001/", URLRules{}, "number"},
		{"https://0x7f.1/", URLRules{}, "number"},
		{"https://017700000001/", URLRules{}, "number"},
		{"https://127.1/", URLRules{}, "number"},
		{"https://-bad.example.com/", URLRules{}, "hyphen"},
		{"https://bad..example.com/", URLRules{}, "label"},
		{"https://" + strings.Repeat("a", 64) + ".example.com/", URLRules{}, "label"},
		{"https://a!b.example.com/", URLRules{}, "may not"},
		{"https://[::1/", URLRules{}, "not accepted"},
	} {
		u, err := ParseURL(tc.raw, tc.rules)
		if err == nil {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", tc.raw, u, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q): %v, want it to contain %q", tc.raw, err, tc.want)
		}
		if !strings.Contains(err.Error(), "webhook url") {
			t.Errorf("ParseURL(%q): %v does not say it is the webhook url", tc.raw, err)
		}
	}
}

// FuzzParseURL checks that whatever ParseURL accepts is an https URL (or
// http to loopback when allowed) with a host, no user information and
// no fragment, that its output parses to itself, and that no input
// panics.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/x", "http://127.0.0.1:8080/", "https://[::1]/", "https://u@h/",
		"https://2130706433/", "http://localhost./", "https://a.b.c:1/p?q#f", "HTTPS://X.Y/"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, dev bool) {
		u, err := ParseURL(raw, URLRules{AllowHTTPLoopback: dev})
		if err != nil {
			if u != nil {
				t.Fatal("a URL with an error")
			}
			return
		}
		if u.Scheme != "https" && !(dev && u.Scheme == "http") {
			t.Fatalf("accepted scheme %q of %q", u.Scheme, raw)
		}
		if u.Hostname() == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("accepted %q as %#v", raw, u)
		}
		if u.Scheme == "http" {
			ip, isIP := parseIP(u.Hostname())
			if u.Hostname() != "localhost" && !(isIP && ip.IsLoopback()) {
				t.Fatalf("accepted http to %q", u.Hostname())
			}
		}
		again, err := ParseURL(u.String(), URLRules{AllowHTTPLoopback: dev})
		if err != nil || again.String() != u.String() {
			t.Fatalf("%q became %q, which parses to %v, %v", raw, u.String(), again, err)
		}
	})
}
