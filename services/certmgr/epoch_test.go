package certmgr_test

import (
	"strings"
	"testing"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// epoch returns the epoch of s's store, as a stream reports it.
func epoch(t *testing.T, s *server) string {
	t.Helper()
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	defer w.cancel()
	e := w.next().GetResync().GetEpoch()
	if e == "" {
		t.Fatal("the stream's resync carries no epoch")
	}
	return e
}

// A subscriber resumes only within the store's epoch: a revision of
// another epoch, or one given without its epoch, is answered with a resync
// and a snapshot, whose end and the heartbeats carry the store's epoch.
func TestWatchResumeNeedsTheEpoch(t *testing.T) {
	s := startServer(t)
	a1 := create(t, s, "a1")
	a2 := create(t, s, "a2")
	current := epoch(t, s)
	for _, tc := range []struct {
		name, epoch, reason string
	}{
		{"another epoch", "0123456789abcdef0123456789abcdef", "restored from a backup"},
		{"no epoch", "", "without its epoch"},
	} {
		w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: a2.GetRevision(), Epoch: tc.epoch})
		r := w.next().GetResync()
		if r == nil || !strings.Contains(r.GetReason(), tc.reason) || r.GetEpoch() != current {
			t.Errorf("%s: first event resync %v, want one that says %q with epoch %s", tc.name, r, tc.reason, current)
		}
		names, rev := w.snapshot2()
		if len(names) != 2 || rev != a2.GetRevision() {
			t.Errorf("%s: snapshot of %v at %d, want both certificates at %d", tc.name, names, rev, a2.GetRevision())
		}
		w.cancel()
	}
	// With the right epoch it resumes without a resync.
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: a1.GetRevision(), Epoch: current})
	if ch := w.change(); ch.GetRevision() != a2.GetRevision() || ch.GetCertificateId() != a2.GetId() {
		t.Errorf("resumed at %d, want a2 at %d", ch.GetRevision(), a2.GetRevision())
	}
}

// snapshot2 reads a snapshot's items and its end, after the resync was
// read, and checks the end carries an epoch.
func (w *watcher) snapshot2() (names []string, rev uint64) {
	w.t.Helper()
	for {
		ev := w.next()
		if c := ev.GetSnapshotComplete(); c != nil {
			if c.GetEpoch() == "" {
				w.t.Error("snapshot end without an epoch")
			}
			return names, c.GetRevision()
		}
		names = append(names, ev.GetSnapshotItem().GetCertificate().GetName())
	}
}
