package proxy

import (
	"net/http"
	"strings"
	"testing"
)

func TestHopSeen(t *testing.T) {
	h, err := newHop("e1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		via  []string
		seen bool
	}{
		{nil, false},
		{[]string{"1.1 certbind-e1"}, true},
		{[]string{"1.0 proxy", "1.1 certbind-e1"}, true},
		{[]string{"1.0 proxy, 1.1 certbind-e1 (comment)"}, true},
		{[]string{"1.0 proxy,HTTP/1.1  certbind-e1,1.1 other"}, true},
		{[]string{"2 certbind-e1"}, true},
		{[]string{"1.1 certbind-e10"}, false},
		{[]string{"1.1 certbind-e1x, 1.1 xcertbind-e1"}, false},
		{[]string{"1.1 other (certbind-e1)"}, false},
		{[]string{"1.1 other certbind-e1"}, false},
		{[]string{"certbind-e1"}, false},
		{[]string{"1.1 certbind-e"}, false},
	} {
		if got := h.seen(http.Header{"Via": tc.via}); got != tc.seen {
			t.Errorf("seen(Via %q) = %v, want %v", tc.via, got, tc.seen)
		}
	}
}

func TestHopEntry(t *testing.T) {
	h, _ := newHop("e1")
	for _, tc := range []struct {
		major, minor int
		want         string
	}{{1, 1, "1.1 certbind-e1"}, {1, 0, "1.0 certbind-e1"}, {2, 0, "2 certbind-e1"}} {
		if got := h.entry(&http.Request{ProtoMajor: tc.major, ProtoMinor: tc.minor}); got != tc.want {
			t.Errorf("entry for HTTP/%d.%d = %q, want %q", tc.major, tc.minor, got, tc.want)
		}
	}
	r := &http.Request{ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Via": {"1.0 a, 1.1 b"}}}
	if n := testing.AllocsPerRun(100, func() { h.seen(r.Header); h.entry(r) }); n != 0 {
		t.Errorf("the hop marker allocates %v times per request, want none", n)
	}
}

func TestHopID(t *testing.T) {
	a, _ := newHop("")
	b, _ := newHop("")
	if a.name == b.name || len(a.name) != len(hopPrefix)+16 {
		t.Errorf("random hop names %q and %q: want distinct, of 16 hex digits", a.name, b.name)
	}
	for _, id := range []string{"a b", "a,b", "a(b)", "é"} {
		if _, err := newHop(id); err == nil || !strings.Contains(err.Error(), "HopID") {
			t.Errorf("newHop(%q) = %v, want an error naming HopID", id, err)
		}
	}
}
