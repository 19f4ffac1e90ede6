package tracing

import (
	"net"
	"testing"
)

// FuzzParseEndpoint: any --otlp-endpoint value is either refused with an
// error or gives a host and port that split cleanly, and never panics.
func FuzzParseEndpoint(f *testing.F) {
	for _, seed := range []string{"collector:4317", "http://127.0.0.1:4317", "https://[::1]:4317/", "grpc://x:1", "http://[::1", ":4317", "x:0", "http://u@h:1", ""} {
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, raw string, insecure bool) {
		ep, err := parseEndpoint(raw, insecure)
		if err != nil {
			return
		}
		host, _, err := net.SplitHostPort(ep.hostport)
		if err != nil || host == "" {
			t.Fatalf("parseEndpoint(%q) accepted %q, which is no host and port", raw, ep.hostport)
		}
		if insecure && !ep.insecure {
			t.Fatalf("parseEndpoint(%q, insecure) gave a TLS endpoint", raw)
		}
	})
}
