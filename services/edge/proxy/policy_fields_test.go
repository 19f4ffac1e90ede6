package proxy

import (
	"strings"
	"testing"
)

func TestFieldSets(t *testing.T) {
	for _, tc := range []struct {
		name            string
		header, trailer bool // dropped from each
	}{
		{"X-Forwarded-For", true, true},
		{"X_forwarded_for", true, true},
		{"x-forwarded-whatever", true, true},
		{"X-Forwarded", true, true},
		{"Forwarded", true, true},
		{"FORWARDED", true, true},
		{"X-Real-Ip", true, true},
		{"X_real_ip", true, true},
		{"True-Client-Ip", true, true},
		{"Cf-Connecting-Ip", true, true},
		{"X-Original-Url", true, true},
		{"Connection", true, true},
		{"Proxy_authorization", true, true},
		{"Content_length", true, true},
		{"Transfer_encoding", true, true},
		{"Host", true, true},
		{"Authorization", false, true},
		{"Cookie", false, true},
		{"Content-Type", false, true},
		{"Via", false, true},
		{"If-None-Match", false, true},
		{"X-Forwarde", false, false},
		{"X-Checksum", false, false},
		{"X_custom", false, false},
		{"Accept", false, false},
		{"User-Agent", false, false},
		{"Content-Digest", false, false},
		{"", false, false},
		{"1x", false, false},
	} {
		if got := requestDropped.has(tc.name); got != tc.header {
			t.Errorf("header %q dropped: %v, want %v", tc.name, got, tc.header)
		}
		if got := trailerDropped.has(tc.name); got != tc.trailer {
			t.Errorf("trailer %q dropped: %v, want %v", tc.name, got, tc.trailer)
		}
	}
	// Every field the header drops, the trailer drops too.
	for _, list := range [][]string{forwardingFields, messageFields, hopByHopFields} {
		for _, name := range list {
			if !requestDropped.has(name) || !trailerDropped.has(strings.ToUpper(name)) {
				t.Errorf("%q is not dropped from both", name)
			}
		}
	}
}

func TestFieldSetAllocs(t *testing.T) {
	names := []string{"Accept", "User-Agent", "X-Forwarded-For", "X_real_ip", "Cookie", "X-Request-Id"}
	if n := testing.AllocsPerRun(100, func() {
		for _, name := range names {
			dropRequestField(name)
		}
	}); n != 0 {
		t.Errorf("dropRequestField allocates %v times, want none", n)
	}
}

func BenchmarkDropRequestField(b *testing.B) {
	names := []string{"Accept", "User-Agent", "Accept-Encoding", "Cookie", "X-Request-Id", "Content-Type"}
	for b.Loop() {
		for _, name := range names {
			dropRequestField(name)
		}
	}
}
