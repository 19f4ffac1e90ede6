package store_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/services/certmgr/store"
)

// followFor runs Follow from pos until the sink has seen want events, and
// returns them.
func followFor(t *testing.T, hub *changefeed.Hub[store.Entry], st *store.Store, pos changefeed.Position, want int) []event {
	t.Helper()
	sink := newSink(st, pos.Revision)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- changefeed.Follow(ctx, hub, st, sink, pos, changefeed.Options{Heartbeat: 20 * time.Millisecond})
	}()
	waitFor(t, "the stream's events", func() bool {
		return len(sink.only("resync", "snapshot", "change")) >= want && len(sink.only("heartbeat")) > 0
	})
	cancel()
	<-done
	sink.check(t, "stream")
	return sink.only("resync", "snapshot", "change")
}

// Within one epoch a subscriber resumes where it was, as it always did.
func TestFollowSameEpochResumes(t *testing.T) {
	st, hub := openFeed(t, store.Options{})
	writeN(t, st, 5)
	got := followFor(t, hub, st, changefeed.Position{Revision: 3, Epoch: st.Epoch()}, 2)
	if !slices.Equal(revs(got), []uint64{4, 5}) || len(got) != 2 {
		t.Errorf("resumed from 3 in the same epoch: got %v, want changes 4 and 5 only", got)
	}
}

// A store restored from a backup gets a new epoch. A subscriber that holds
// the replaced store's state resumes from a revision that the restored
// store reached again with other writes: it must be told to resync, never
// be answered with silence.
func TestFollowAcrossEpochsResyncs(t *testing.T) {
	st, _ := openFeed(t, store.Options{})
	writeN(t, st, 5)
	backup := filepath.Join(t.TempDir(), "certmgr.db")
	f, err := os.OpenFile(backup, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := st.Backup(f, func(revlog.Copy) error { return nil })
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if cp.Revision != 5 || cp.Epoch != st.Epoch() || cp.Epoch == "" {
		t.Fatalf("backup copy %+v, want revision 5 of epoch %q", cp, st.Epoch())
	}
	// The subscriber follows the old store past the backup.
	oldEpoch := st.Epoch()
	subscriberAt := writeN(t, st, 3)

	epoch, err := store.Restamp(backup)
	if err != nil {
		t.Fatalf("Restamp: %v", err)
	}
	if epoch == oldEpoch || epoch == "" {
		t.Fatalf("restored store's epoch %q, want a new one (old %q)", epoch, oldEpoch)
	}
	restored, err := store.Open(backup, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { restored.Close() })
	if restored.Epoch() != epoch {
		t.Fatalf("reopened epoch %q, want %q", restored.Epoch(), epoch)
	}
	head, _ := restored.Revision()
	hub := changefeed.NewHub[store.Entry](head)
	restored.SetPublisher(hub.Publish)
	// Other writes after the restore bring the head back to the
	// subscriber's revision: by revision alone it looks current.
	if rev := writeN(t, restored, 3); rev != subscriberAt {
		t.Fatalf("restored head %d, want %d", rev, subscriberAt)
	}

	got := followFor(t, hub, restored, changefeed.Position{Revision: subscriberAt, Epoch: oldEpoch}, 2)
	if len(got) < 2 || got[0].kind != "resync" || got[1].kind != "snapshot" || got[1].rev != subscriberAt {
		t.Fatalf("resumed across epochs: got %v, want a resync and a snapshot at %d", got, subscriberAt)
	}
	if !strings.Contains(got[0].reason, "restored from a backup") {
		t.Errorf("resync reason %q does not say the store was restored", got[0].reason)
	}

	// A subscriber that gives no epoch cannot show which store its revision
	// came from: it resyncs too.
	got = followFor(t, hub, restored, changefeed.Position{Revision: subscriberAt}, 2)
	if len(got) < 2 || got[0].kind != "resync" || got[1].kind != "snapshot" {
		t.Errorf("resumed without an epoch: got %v, want a resync and a snapshot", got)
	}
}
