package testetcd_test

import (
	"context"
	"os"
	"testing"

	"github.com/certbind/certbind/internal/testetcd"
)

func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }

// TestClientsShareTheMember: two clients see each other's writes, and two
// tests' prefixes differ.
func TestClientsShareTheMember(t *testing.T) {
	a, prefix := testetcd.Client(t)
	b := testetcd.NewClient(t)
	ctx := context.Background()
	put, err := a.Put(ctx, prefix+"k", "v")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, prefix+"k")
	if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v" || got.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("the other client reads %+v, %v", got, err)
	}
	if other := testetcd.Prefix(t); other == prefix {
		t.Errorf("two calls gave the prefix %q", prefix)
	}
}
