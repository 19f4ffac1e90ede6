// Package etcdkv holds what the etcd store backends of certmgr and the
// deploytracker share: the checks of a key prefix, the store's epoch kept
// under it, the optimistic write loop, and errors that say what to fix when
// etcd does not answer.
//
// A store under etcd keeps each record in a key of its own and writes with
// one transaction per write, guarded by comparisons of the create or
// modification revisions it read: a write that lost a race to another
// replica reads again and retries. Revisions are etcd's own (shared by every
// key of the cluster, so sparse for one store); no counter is kept.
package etcdkv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/grpcerr"
	"github.com/certbind/certbind/internal/validate"
)

// KeyValue is a key as etcd returns it: its value and its create and
// modification revisions.
type KeyValue = mvccpb.KeyValue

// DefaultTimeout bounds one store call (all its reads, writes and retries)
// when the store's options leave it zero.
const DefaultTimeout = 5 * time.Second

// CheckPrefix refuses a prefix the stores cannot keep their keys under.
func CheckPrefix(prefix string) error {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("etcd prefix %q must start and end with \"/\" (e.g. \"/certbind/\")", prefix)
	}
	return nil
}

// Epoch returns the epoch recorded at key, recording a new random one in the
// same transaction when there is none: two replicas that open a new store at
// once agree on the epoch.
func Epoch(ctx context.Context, cli *clientv3.Client, key string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new epoch: %w", err)
	}
	fresh := hex.EncodeToString(b[:])
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, fresh)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return "", err
	}
	if resp.Succeeded {
		return fresh, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 || len(kvs[0].Value) == 0 {
		return "", fmt.Errorf("the epoch at %q is empty", key)
	}
	return string(kvs[0].Value), nil
}

// ErrConflict is what an attempt of Retry returns when its transaction's
// comparisons failed: another write changed what it read.
var ErrConflict = errors.New("etcd: a concurrent write changed the record")

// Retry runs attempt until it returns anything but ErrConflict, or ctx ends.
// Each attempt reads afresh, so it decides on what is stored at the time.
func Retry(ctx context.Context, attempt func(ctx context.Context) error) error {
	for {
		err := attempt(ctx)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("gave up after concurrent writes kept changing the record: %w", ctx.Err())
		}
	}
}

// Unavailable wraps an error of the etcd client for a store call: op says
// what the store was doing.
// The error is marked grpcerr.ErrStoreUnavailable, so the services answer
// it as Unavailable (a retry may cure it) and keep the details for their log.
func Unavailable(op, prefix string, err error) error {
	return &unavailableError{
		msg: fmt.Sprintf("%s in etcd under %s: %v (check that the etcd endpoints are up and reachable, and that this replica's etcd credentials may use the prefix)", op, prefix, err),
		err: err,
	}
}

type unavailableError struct {
	msg string
	err error
}

func (e *unavailableError) Error() string   { return e.msg }
func (e *unavailableError) Unwrap() []error { return []error{e.err, grpcerr.ErrStoreUnavailable} }

// Value returns the first key-value of the i-th response of a transaction
// made only of range reads, or nil when that read found nothing.
func Value(resp *clientv3.TxnResponse, i int) *KeyValue {
	kvs := resp.Responses[i].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return nil
	}
	return kvs[0]
}

// Values returns every key-value of the i-th response of a transaction made
// only of range reads.
func Values(resp *clientv3.TxnResponse, i int) []*KeyValue {
	return resp.Responses[i].GetResponseRange().GetKvs()
}

// CheckKeyParts refuses a part of a key that is empty or holds a "/": the
// stores join parts with "/", so such a part could make two records share
// a key or one read another's. Callers validate accounts, projects,
// environments and names long before; this is the store's own line.
func CheckKeyParts(parts ...string) error {
	for _, p := range parts {
		if p == "" || strings.Contains(p, "/") {
			return fmt.Errorf("%s cannot be part of a store key: it is empty or holds \"/\" (accounts, projects and environments are slugs, certificate names JavaScript identifiers)", validate.Quote(p))
		}
	}
	return nil
}
