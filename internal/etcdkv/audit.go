package etcdkv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/audit"
)

// AuditTrail is an audit trail in etcd, shared by every replica of a
// service: under Prefix, one key per entry,
//
//	PREFIX ACCOUNT / TIME-RANDOM
//
// where TIME is the entry's time in Unix nanoseconds as 16 hex digits (so
// keys sort by time) and RANDOM tells apart two entries of one nanosecond.
// An entry's Seq is its key's create revision: a later entry has a greater
// one, on any replica. The entry of a write that succeeds is put in the
// write's own transaction (Ops), so an acknowledged write never lacks it;
// its Revision is then that transaction's revision, which is the write's.
//
// Retention: entries past their age are removed by a range delete in each
// transaction that adds one to the account; entries beyond the count are
// removed after it (Trim), at most maxTrim at a time, up to a key read in one
// consistent read, so that replicas trimming at once remove the same keys
// rather than too many. Listings skip entries past their age even before a
// write removes them.
type AuditTrail struct {
	Prefix    string // e.g. "/certbind/certmgr/audit/", ending in "/"
	Retention audit.Retention
}

// maxTrim bounds how many entries beyond the count one Trim removes, as
// the bbolt trail bounds each append's trim: later writes take the rest.
const maxTrim = 64

// listChunk is how many keys one read of a listing returns.
const listChunk = 256

// stored is an entry as kept: WithWrite marks the entry of a write, whose
// Revision is the key's create revision.
type stored struct {
	audit.Entry
	WithWrite bool `json:"withWrite,omitempty"`
}

func (a AuditTrail) accountPrefix(account string) string { return a.Prefix + account + "/" }

// timeKey is t as the start of a key; times before 1970 are 1970's, so
// that a cutoff far back never wraps around to delete everything.
func timeKey(t time.Time) string { return fmt.Sprintf("%016x", uint64(max(t.UnixNano(), 0))) }

func (a AuditTrail) retention() audit.Retention {
	r := a.Retention
	if r.PerAccount <= 0 {
		r.PerAccount = audit.DefaultPerAccount
	}
	if r.MaxAge <= 0 {
		r.MaxAge = audit.DefaultMaxAge
	}
	return r
}

// Ops returns the operations that append e to its account and remove the
// account's entries past their age, for the Then of a transaction. withWrite
// says e is the entry of the write the transaction makes (its Revision is
// then the transaction's).
func (a AuditTrail) Ops(e audit.Entry, withWrite bool) ([]clientv3.Op, error) {
	account := e.AccountOf()
	if err := CheckKeyParts(account); err != nil {
		return nil, err
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	e.Seq, e.Revision = 0, 0
	value, err := json.Marshal(stored{Entry: e, WithWrite: withWrite})
	if err != nil {
		return nil, err
	}
	ap := a.accountPrefix(account)
	key := ap + timeKey(e.Time) + "-" + hex.EncodeToString(suffix[:])
	cutoff := ap + timeKey(e.Time.Add(-a.retention().MaxAge))
	return []clientv3.Op{
		clientv3.OpPut(key, string(value)),
		clientv3.OpDelete(ap, clientv3.WithRange(cutoff)),
	}, nil
}

// Record appends e in a transaction of its own (a refused write, or one
// that is not a change of the store's records), then trims its account.
func (a AuditTrail) Record(ctx context.Context, cli *clientv3.Client, e audit.Entry) error {
	ops, err := a.Ops(e, false)
	if err != nil {
		return err
	}
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return Unavailable("record the audit entry", a.Prefix, err)
	}
	return a.Trim(ctx, cli, e.AccountOf())
}

// Trim removes an account's oldest entries beyond the retention's count, at
// most maxTrim of them. It reads the oldest keys and the account's count in
// one read, and deletes the range before the first key it keeps: keys added
// since are newer, so any number of replicas may trim at once and together
// remove no more than one would.
func (a AuditTrail) Trim(ctx context.Context, cli *clientv3.Client, account string) error {
	ap := a.accountPrefix(account)
	resp, err := cli.Get(ctx, ap, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(maxTrim+1))
	if err != nil {
		return Unavailable("read the audit trail's oldest entries", a.Prefix, err)
	}
	excess := resp.Count - int64(a.retention().PerAccount)
	if excess <= 0 {
		return nil
	}
	n := min(excess, maxTrim, int64(len(resp.Kvs))-1)
	if n <= 0 {
		return nil
	}
	keep := string(resp.Kvs[n].Key)
	if _, err := cli.Delete(ctx, ap, clientv3.WithRange(keep)); err != nil {
		return Unavailable("trim the audit trail", a.Prefix, err)
	}
	return nil
}

// List returns the entries of q.Account that match q, newest first, and
// the token of the next page ("" on the last page), as audit.Log.List does.
// Each read returns at most listChunk keys; etcd sorts the account's
// entries since the start time to answer it, which the retention bounds.
func (a AuditTrail) List(ctx context.Context, cli *clientv3.Client, q audit.Query, now time.Time) ([]audit.Entry, string, error) {
	if err := CheckKeyParts(q.Account); err != nil {
		return nil, "", err
	}
	size := q.PageSize
	if size <= 0 || size > audit.MaxPageSize {
		size = audit.DefaultPageSize
	}
	since := now.Add(-a.retention().MaxAge)
	if q.Since.After(since) {
		since = q.Since
	}
	ap := a.accountPrefix(q.Account)
	from, end := ap+timeKey(since), clientv3.GetPrefixRangeEnd(ap)
	// before is the create revision entries must be under; 0 is none.
	before := int64(q.Before)
	if q.Before == 1 {
		return nil, "", nil // "nothing left": no entry has a revision under 1
	}
	var out []audit.Entry
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listChunk),
			clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend)}
		if before > 0 {
			opts = append(opts, clientv3.WithMaxCreateRev(before-1))
		}
		resp, err := cli.Get(ctx, from, opts...)
		if err != nil {
			return nil, "", Unavailable("list the audit trail", a.Prefix, err)
		}
		for _, kv := range resp.Kvs {
			before = kv.CreateRevision
			var s stored
			if err := json.Unmarshal(kv.Value, &s); err != nil {
				// An entry that does not decode is skipped, not fatal:
				// the trail of one account stays readable around it.
				continue
			}
			e := s.Entry
			e.Seq = uint64(kv.CreateRevision)
			if s.WithWrite {
				e.Revision = uint64(kv.CreateRevision)
			}
			if e.AccountOf() != q.Account || e.Time.Before(since) || !matches(q, &e) {
				continue
			}
			if len(out) == size {
				return out, audit.EncodePageToken(out[len(out)-1].Seq), nil
			}
			out = append(out, e)
		}
		if len(resp.Kvs) < listChunk || before <= 1 {
			return out, "", nil
		}
	}
}

func matches(q audit.Query, e *audit.Entry) bool {
	return (q.ResourceID == "" || e.Resource.ID == q.ResourceID) && (q.Action == "" || e.Action == q.Action)
}
