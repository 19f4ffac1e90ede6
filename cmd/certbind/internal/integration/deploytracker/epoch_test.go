package deploytracker_test

import (
	"strings"
	"testing"

	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// epoch returns the epoch of the deploytracker's store, as a stream
// reports it.
func (p *pair) epoch(t *testing.T) string {
	t.Helper()
	w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{})
	defer w.close()
	e := w.nextEvent(t).GetResync().GetEpoch()
	if e == "" {
		t.Fatal("the stream's resync carries no epoch")
	}
	return e
}

// A subscriber resumes only within the store's epoch: another epoch, or
// none, is answered with a resync and a snapshot.
func TestWatchResumeNeedsTheEpoch(t *testing.T) {
	p := startPair(t)
	a := p.deploy(t, req("acme", "shop", "a", "production", plain(t)))
	b := p.deploy(t, req("acme", "shop", "b", "production", plain(t)))
	current := p.epoch(t)
	for _, tc := range []struct {
		name, epoch, reason string
	}{
		{"another epoch", "0123456789abcdef0123456789abcdef", "restored from a backup"},
		{"no epoch", "", "without its epoch"},
	} {
		w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{FromRevision: b.GetRevision(), Epoch: tc.epoch})
		resync, items, rev := w.snapshot(t)
		if !strings.Contains(resync.GetReason(), tc.reason) || resync.GetEpoch() != current {
			t.Errorf("%s: resync %v, want one that says %q with epoch %s", tc.name, resync, tc.reason, current)
		}
		if len(items) != 2 || rev != b.GetRevision() {
			t.Errorf("%s: snapshot of %d at %d, want 2 at %d", tc.name, len(items), rev, b.GetRevision())
		}
		w.close()
	}
	w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{FromRevision: a.GetRevision(), Epoch: current})
	if c := w.nextChange(t); c.GetRevision() != b.GetRevision() || c.GetDeploymentId() != b.GetId() {
		t.Errorf("resumed at %d, want b at %d", c.GetRevision(), b.GetRevision())
	}
}
