package webhook

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/internal/testetcd"
)

// Both stores of the webhook records behave alike: a transaction reads
// its own writes, in gets, scans (either way) and counts, and a
// transaction that fails commits nothing.
func TestKVBackends(t *testing.T) {
	stores := map[string]func(t *testing.T) kv{
		"bbolt": func(t *testing.T) kv {
			k, err := openBolt(filepath.Join(t.TempDir(), "webhooks.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { k.close() })
			return k
		},
		"etcd": func(t *testing.T) kv {
			cli, prefix := testetcd.Client(t)
			return newKVEtcd(cli, prefix, etcdkv.DefaultTimeout)
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			k := open(t)
			scanAll := func(tx kvTx, reverse bool) string {
				var out []string
				err := tx.scan(bucketDue, []byte("a"), reverse, func(k, v []byte) (bool, error) {
					out = append(out, string(k)+"="+string(v))
					return true, nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return strings.Join(out, " ")
			}
			err := k.update(false, func(tx kvTx) error {
				for _, key := range []string{"a1", "a3", "b1", "a2"} {
					if err := tx.put(bucketDue, []byte(key), []byte("v"+key)); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			err = k.update(false, func(tx kvTx) error {
				if err := tx.del(bucketDue, []byte("a1")); err != nil {
					return err
				}
				if err := tx.put(bucketDue, []byte("a0"), []byte("new")); err != nil {
					return err
				}
				if err := tx.put(bucketDue, []byte("a3"), []byte("changed")); err != nil {
					return err
				}
				if got := scanAll(tx, false); got != "a0=new a2=va2 a3=changed" {
					t.Errorf("scan in the writing transaction: %s", got)
				}
				if got := scanAll(tx, true); got != "a3=changed a2=va2 a0=new" {
					t.Errorf("reverse scan in the writing transaction: %s", got)
				}
				if n, err := tx.count(bucketDue, []byte("a")); err != nil || n != 3 {
					t.Errorf("count %d %v, want 3", n, err)
				}
				if v, err := tx.get(bucketDue, []byte("a1")); err != nil || v != nil {
					t.Errorf("deleted key reads %q %v", v, err)
				}
				if v, err := tx.get(bucketDue, []byte("b1")); err != nil || string(v) != "vb1" {
					t.Errorf("b1 reads %q %v", v, err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// A transaction whose function fails leaves nothing.
			boom := errors.New("boom")
			err = k.update(false, func(tx kvTx) error {
				if err := tx.put(bucketDue, []byte("a9"), []byte("lost")); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("update returned %v", err)
			}
			err = k.view(func(tx kvTx) error {
				if got := scanAll(tx, false); got != "a0=new a2=va2 a3=changed" {
					t.Errorf("after the commits: %s", got)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// On etcd a transaction says it is full at the budget, one that writes
// nothing commits nothing (the serial key is not written), and a write
// of a pass is refused when this replica does not lead.
func TestKVEtcdBudgetAndEmptyCommits(t *testing.T) {
	cli, prefix := testetcd.Client(t)
	k := newKVEtcd(cli, prefix, etcdkv.DefaultTimeout)
	err := k.update(false, func(tx kvTx) error {
		for i := 0; !tx.full(); i++ {
			if i > etcdBudget {
				t.Fatalf("not full after %d writes", i)
			}
			if err := tx.put(bucketTracked, []byte(fmt.Sprint(i)), []byte("x")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		resp, err := cli.Get(context.Background(), k.serialKey())
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("serial key: %v %v", resp, err)
		}
		return resp.Kvs[0].ModRevision
	}
	before := serial()
	if err := k.update(false, func(tx kvTx) error { _, err := tx.get(bucketMeta, keyCursor); return err }); err != nil {
		t.Fatal(err)
	}
	if serial() != before {
		t.Fatal("a transaction without writes committed")
	}
	if err := k.update(true, func(tx kvTx) error { return tx.put(bucketMeta, keyCursor, u64(1)) }); !errors.Is(err, errNotLeader) {
		t.Fatalf("a write of a pass without leading: %v", err)
	}
}
