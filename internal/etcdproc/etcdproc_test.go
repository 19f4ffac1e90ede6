package etcdproc

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func TestFindBinaryLooksInParents(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, ".bin", "etcd")
	if err := os.MkdirAll(filepath.Dir(bin), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, nil, 0o700); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	if got := FindBinary(""); got != bin {
		t.Errorf("FindBinary from %s = %q, want %q", deep, got, bin)
	}
	if got := FindBinary("/x/etcd"); got != "/x/etcd" {
		t.Errorf("FindBinary with a path = %q", got)
	}
}

// TestLeaderKilledAndRejoined SIGKILLs the leader of a 3-member cluster:
// another member leads, a write goes through, and the killed member,
// started again, catches up.
func TestLeaderKilledAndRejoined(t *testing.T) {
	bin := FindBinary("")
	if bin == "" {
		t.Skip("no etcd binary: `make etcd-server` builds the pinned release into ./.bin")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // a hang guard
	defer cancel()
	c, err := Start(ctx, bin, t.TempDir(), "etcdproc-test", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	leader, err := c.Leader(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(leader)
	if leader.Running() {
		t.Fatal("the killed member still runs")
	}
	next, err := c.Leader(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if next == leader {
		t.Fatal("the killed member is still the leader")
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(leader); err == nil {
		t.Error("a running member was started twice")
	}
	if err := c.Joined(ctx, leader, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// The restarted member has the write made while it was down (a
	// serializable read answers from that member's own state).
	only := &Cluster{Members: []*Member{leader}}
	lc, err := only.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	resp, err := lc.Get(ctx, "k", clientv3.WithSerializable())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("the restarted member has %v", resp.Kvs)
	}
}
