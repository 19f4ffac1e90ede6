package webhook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
)

// On etcd the records live under certmgr's prefix: PREFIX webhooks/BUCKET/KEY
// (the key's bytes as they are). A transaction reads everything at one
// etcd revision (its first read's), keeps its writes in memory where its
// own reads see them, and commits them in one etcd Txn guarded by the
// modification revision of one key, PREFIX webhooks/serial, which every
// commit also writes. Any two webhook writes, from any replicas, thus
// conflict, and the one that loses runs its function again on what is
// stored now. Webhook writes are few (one per step of a pass and per API
// call), so one serial key costs little and makes every transaction
// serializable without working out what each one read.

const (
	// etcdBudget is the number of writes after which a transaction says
	// it is full. One unit of work (a change or an expiry with its
	// deliveries to an account's 20 webhooks: at most 42 writes once the
	// transaction is full, as trimming the log stops then), plus the
	// cursor, added to a transaction just under the budget stays below
	// etcdMaxOps.
	etcdBudget = 64
	// etcdMaxOps is the most writes one commit sends, the serial key's
	// included: etcd refuses a Txn of more than --max-txn-ops operations,
	// 128 by default.
	etcdMaxOps = 127
	// etcdTries bounds how often a transaction runs again after losing
	// to another write.
	etcdTries = 16
)

// errNotLeader is a write of a pass refused because this replica no
// longer leads the dispatch.
var errNotLeader = errors.New("this replica no longer leads the webhook dispatch (its election lease ran out or it resigned): it records nothing more, and another replica goes on")

// errTooBig is a unit of work that needs more writes than one etcd
// transaction may hold.
var errTooBig = fmt.Errorf("one webhook change needs more than %d writes, more than one etcd transaction may hold (etcd's --max-txn-ops must be at least 128)", etcdMaxOps)

// kvEtcd keeps the dispatcher's records in etcd.
type kvEtcd struct {
	cli     *clientv3.Client
	prefix  string // PREFIX webhooks/
	timeout time.Duration
	budget  int

	mu sync.Mutex
	// leadKey and leadRev are this replica's election key and its create
	// revision while it leads; leadKey is "" otherwise.
	leadKey string
	leadRev int64
}

func newKVEtcd(cli *clientv3.Client, prefix string, timeout time.Duration) *kvEtcd {
	return &kvEtcd{cli: cli, prefix: prefix + "webhooks/", timeout: timeout, budget: etcdBudget}
}

func (k *kvEtcd) serialKey() string { return k.prefix + "serial" }

func (k *kvEtcd) leaderKey() string { return k.prefix + "leader" }

func (k *kvEtcd) dueKeys() string { return k.prefix + string(bucketDue) + "/" }

func (k *kvEtcd) setLead(key string, rev int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.leadKey, k.leadRev = key, rev
}

func (k *kvEtcd) lead() (string, int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.leadKey, k.leadRev
}

func (k *kvEtcd) close() error { return nil }

func (k *kvEtcd) view(fn func(kvTx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	return fn(k.begin(ctx))
}

func (k *kvEtcd) update(lead bool, fn func(kvTx) error) error {
	var last error
	for range etcdTries {
		var leadKey string
		var leadRev int64
		if lead {
			if leadKey, leadRev = k.lead(); leadKey == "" {
				return errNotLeader
			}
		}
		err := k.attempt(fn, leadKey, leadRev)
		if !errors.Is(err, etcdkv.ErrConflict) {
			return err
		}
		last = err
	}
	return etcdkv.Unavailable("record webhook state", k.prefix, fmt.Errorf("other replicas' writes kept getting in first %d times: %w", etcdTries, last))
}

func (k *kvEtcd) attempt(fn func(kvTx) error, leadKey string, leadRev int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	tx := k.begin(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	if len(tx.writes) == 0 {
		tx.committed()
		return nil
	}
	if len(tx.writes)+1 > etcdMaxOps {
		return errTooBig
	}
	// A function that wrote without reading still commits against the
	// serial key as it is now.
	if err := tx.start(); err != nil {
		return err
	}
	keys := make([]string, 0, len(tx.writes))
	for key := range tx.writes {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	ops := make([]clientv3.Op, 0, len(keys)+1)
	for _, key := range keys {
		if v := tx.writes[key]; v == nil {
			ops = append(ops, clientv3.OpDelete(key))
		} else {
			ops = append(ops, clientv3.OpPut(key, string(v)))
		}
	}
	ops = append(ops, clientv3.OpPut(k.serialKey(), ""))
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(k.serialKey()), "=", tx.serial)}
	var orElse []clientv3.Op
	if leadKey != "" {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(leadKey), "=", leadRev))
		orElse = append(orElse, clientv3.OpGet(leadKey))
	}
	resp, err := k.cli.Txn(ctx).If(cmps...).Then(ops...).Else(orElse...).Commit()
	if err != nil {
		return etcdkv.Unavailable("record webhook state", k.prefix, err)
	}
	if resp.Succeeded {
		tx.committed()
		return nil
	}
	if leadKey != "" {
		if kv := etcdkv.Value(resp, 0); kv == nil || kv.CreateRevision != leadRev {
			return errNotLeader
		}
	}
	return etcdkv.ErrConflict
}

// etcdTx is one transaction on etcd: reads at rev, writes kept in writes
// (nil for a delete) until the commit.
type etcdTx struct {
	k      *kvEtcd
	ctx    context.Context
	rev    int64 // 0 until the first read
	serial int64 // the serial key's modification revision at rev
	writes map[string][]byte
	// ranges keeps the ranges read, by their prefix: the reads are at one
	// revision, so a range read once holds for the whole transaction.
	ranges map[string][]*mvccpb.KeyValue
	// commits run once the writes are committed.
	commits []func()
}

// committed runs the transaction's onCommit functions.
func (t *etcdTx) committed() {
	for _, fn := range t.commits {
		fn()
	}
}

func (k *kvEtcd) begin(ctx context.Context) *etcdTx {
	return &etcdTx{k: k, ctx: ctx, writes: map[string][]byte{}, ranges: map[string][]*mvccpb.KeyValue{}}
}

func (t *etcdTx) key(bucket, key []byte) string {
	return t.k.prefix + string(bucket) + "/" + string(key)
}

// start makes the transaction's first read, of the serial key: its
// revision is the one every other read is made at.
func (t *etcdTx) start() error {
	if t.rev != 0 {
		return nil
	}
	resp, err := t.k.cli.Get(t.ctx, t.k.serialKey())
	if err != nil {
		return etcdkv.Unavailable("read webhook state", t.k.prefix, err)
	}
	t.rev = resp.Header.Revision
	if len(resp.Kvs) > 0 {
		t.serial = resp.Kvs[0].ModRevision
	}
	return nil
}

func (t *etcdTx) get(bucket, key []byte) ([]byte, error) {
	full := t.key(bucket, key)
	if v, ok := t.writes[full]; ok {
		return v, nil
	}
	for p, kvs := range t.ranges {
		if len(full) < len(p) || full[:len(p)] != p {
			continue
		}
		i := sort.Search(len(kvs), func(i int) bool { return string(kvs[i].Key) >= full })
		if i < len(kvs) && string(kvs[i].Key) == full {
			return kvs[i].Value, nil
		}
		return nil, nil
	}
	if err := t.start(); err != nil {
		return nil, err
	}
	resp, err := t.k.cli.Get(t.ctx, full, clientv3.WithRev(t.rev))
	if err != nil {
		return nil, etcdkv.Unavailable("read webhook state", t.k.prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

func (t *etcdTx) put(bucket, key, value []byte) error {
	// A put is never nil, which marks a delete.
	t.writes[t.key(bucket, key)] = append([]byte{}, value...)
	return nil
}

func (t *etcdTx) del(bucket, key []byte) error {
	t.writes[t.key(bucket, key)] = nil
	return nil
}

func (t *etcdTx) onCommit(fn func()) { t.commits = append(t.commits, fn) }

func (t *etcdTx) full() bool { return len(t.writes) >= t.k.budget }

// readRange returns the keys under p as stored at the transaction's
// revision, reading them once.
func (t *etcdTx) readRange(p string) ([]*mvccpb.KeyValue, error) {
	if base, ok := t.ranges[p]; ok {
		return base, nil
	}
	if err := t.start(); err != nil {
		return nil, err
	}
	resp, err := t.k.cli.Get(t.ctx, p, clientv3.WithPrefix(), clientv3.WithRev(t.rev))
	if err != nil {
		return nil, etcdkv.Unavailable("read webhook state", t.k.prefix, err)
	}
	t.ranges[p] = resp.Kvs
	return resp.Kvs, nil
}

func (t *etcdTx) prefetch(bucket, prefix []byte) error {
	_, err := t.readRange(t.key(bucket, prefix))
	return err
}

func (t *etcdTx) count(bucket, prefix []byte) (int, error) {
	p := t.key(bucket, prefix)
	base, err := t.readRange(p)
	if err != nil {
		return 0, err
	}
	n := len(base)
	for key, v := range t.writes {
		if len(key) < len(p) || key[:len(p)] != p {
			continue
		}
		i := sort.Search(len(base), func(i int) bool { return string(base[i].Key) >= key })
		stored := i < len(base) && string(base[i].Key) == key
		switch {
		case stored && v == nil:
			n--
		case !stored && v != nil:
			n++
		}
	}
	return n, nil
}

func (t *etcdTx) scan(bucket, prefix []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	p := t.key(bucket, prefix)
	base, err := t.readRange(p)
	if err != nil {
		return err
	}
	// The range as read, with this transaction's writes laid over it.
	merged := make(map[string][]byte, len(base))
	for _, kv := range base {
		merged[string(kv.Key)] = kv.Value
	}
	for key, v := range t.writes {
		if len(key) >= len(p) && key[:len(p)] == p {
			if v == nil {
				delete(merged, key)
			} else {
				merged[key] = v
			}
		}
	}
	keys := make([]string, 0, len(merged))
	for key := range merged {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	if reverse {
		slices.Reverse(keys)
	}
	strip := len(t.k.prefix) + len(bucket) + 1
	for _, key := range keys {
		more, err := fn([]byte(key[strip:]), merged[key])
		if err != nil || !more {
			return err
		}
	}
	return nil
}
