package edge

import (
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/cache"
	"github.com/certbind/certbind/services/edge/watch"
)

// Each stream says where its state came from and how stale it is; the
// cache's error reaches only a reader who sees the whole edge, since it
// may name the scope a refused cache was written for.
func TestStatusSaysWhereTheStateCameFrom(t *testing.T) {
	heard := time.Now().Add(-90 * time.Second)
	streams := []watch.Status{
		{Name: "certificates", Revision: 7, Synced: true, FromCache: true, LastEvent: heard},
		{Name: "deployments", Revision: 9, Synced: true, LastEvent: time.Now()},
	}
	cs := cache.Status{Written: time.UnixMilli(5000), Restored: time.UnixMilli(4000), Error: `edge cache refused: written for another scope (account "globex", ...)`}
	all := statusOf(streams, statusSnapshot(), StatusScope{}, cs, true)
	if s := all.GetStreams()[0]; s.GetSource() != "cache" || s.GetStaleSeconds() < 90 {
		t.Fatalf("restored stream: %v", s)
	}
	if s := all.GetStreams()[1]; s.GetSource() != "live" || s.GetStaleSeconds() > 60 {
		t.Fatalf("live stream: %v", s)
	}
	if c := all.GetCache(); !c.GetEnabled() || c.GetWrittenUnixMs() != 5000 || c.GetRestoredWrittenUnixMs() != 4000 || c.GetError() != cs.Error {
		t.Fatalf("cache status for the whole edge: %v", c)
	}
	acme := statusOf(streams, statusSnapshot(), StatusScope{Account: "acme"}, cs, true)
	if e := acme.GetCache().GetError(); e == "" || strings.Contains(e, "globex") {
		t.Fatalf("cache error for one account: %q", e)
	}
	none := statusOf([]watch.Status{{Name: "certificates"}, {Name: "deployments"}}, statusSnapshot(), StatusScope{}, cache.Status{}, false)
	if s := none.GetStreams()[0]; s.GetSource() != "" || s.GetStaleSeconds() != 0 || none.GetCache().GetEnabled() {
		t.Fatalf("status before anything: %v %v", s, none.GetCache())
	}
}
