package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// DefaultIntentTTL is how long the deploys in progress of a replica that
// stopped renewing its lease keep counting as references.
const DefaultIntentTTL = 10 * time.Second

// Options configure a Store.
type Options struct {
	// Window is how many changes the feed keeps in memory for resuming
	// subscribers; zero means etcdkv.DefaultWindow.
	Window int
	// Logger receives a line when the feed's watch breaks; nil discards
	// them.
	Logger *slog.Logger
	// Prefix is where the store keeps its keys, e.g.
	// "/certbind/deploytracker/"; it starts and ends with "/".
	Prefix string
	// Timeout bounds each call to the store; zero means
	// etcdkv.DefaultTimeout.
	Timeout time.Duration
	// IntentTTL is the lease of this replica's deploys in progress; zero
	// means DefaultIntentTTL. etcd counts leases in whole seconds.
	IntentTTL time.Duration
	// Audit bounds the audit trail kept under PREFIXaudit/; zero fields
	// take audit's defaults.
	Audit audit.Retention
}

// Store is the deploytracker's state in etcd. It is safe for concurrent
// use, and any number of Stores (one per replica) may share a prefix.
type Store struct {
	cli     *clientv3.Client
	prefix  string
	timeout time.Duration
	epoch   string
	intents *etcdkv.Lease
	feed    *etcdkv.Window[store.Entry]
	audit   etcdkv.AuditTrail
}

// Open opens the store under opts.Prefix, recording its epoch if it is new.
// The client stays the caller's: Close does not close it.
func Open(cli *clientv3.Client, opts Options) (*Store, error) {
	if err := etcdkv.CheckPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = etcdkv.DefaultTimeout
	}
	if opts.IntentTTL <= 0 {
		opts.IntentTTL = DefaultIntentTTL
	}
	s := &Store{cli: cli, prefix: opts.Prefix, timeout: opts.Timeout,
		audit: etcdkv.AuditTrail{Prefix: opts.Prefix + "audit/", Retention: opts.Audit}}
	ctx, cancel := s.ctx()
	defer cancel()
	epoch, err := etcdkv.Epoch(ctx, cli, s.prefix+"meta/epoch")
	if err != nil {
		return nil, etcdkv.Unavailable("read the store's epoch", s.prefix, err)
	}
	s.epoch = epoch
	s.feed, err = etcdkv.StartWindow(ctx, cli, s.prefix, s.entries, etcdkv.WindowOptions{Size: opts.Window, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	s.intents = etcdkv.NewLease(cli, opts.IntentTTL)
	return s, nil
}

// Close stops the change feed, revokes this replica's lease, dropping its
// deploys in progress (none was acknowledged), and stops renewing it.
func (s *Store) Close() error {
	s.feed.Close()
	ctx, cancel := s.ctx()
	defer cancel()
	return s.intents.Close(ctx)
}

// Epoch returns the store's epoch, the same for every replica.
func (s *Store) Epoch() string { return s.epoch }

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

func (s *Store) envKey(account, project, env string) string {
	return s.prefix + "deployments/" + account + "/" + project + "/" + env
}

func (s *Store) idKey(account, project, id string) string {
	return s.prefix + "ids/" + account + "/" + project + "/" + id
}

func (s *Store) pendingKey(p store.Pending) string {
	return s.prefix + "pending/" + p.Account + "/" + p.Project + "/" + p.Environment + "/" + p.Token
}

// projectPrefix is the prefix of a project's keys of one kind
// ("deployments", "ids" or "pending").
func (s *Store) projectPrefix(kind, account, project string) string {
	return s.prefix + kind + "/" + account + "/" + project + "/"
}

// decode reads a deployment record of this store.
func (s *Store) decode(kv *etcdkv.KeyValue) (*store.Deployment, error) {
	return decodeDeployment(s.prefix+"deployments/", kv)
}

// decodeDeployment reads the deployment record kv stored under
// depsPrefix; its revision is the key's. A value that is not a
// deployment's JSON, or that is another environment's (a misplaced or
// foreign write), does not decode: reads show it as damaged rather than as
// a deployment its key does not name.
func decodeDeployment(depsPrefix string, kv *etcdkv.KeyValue) (*store.Deployment, error) {
	account, project, env, ok := splitKey(depsPrefix, string(kv.Key))
	if !ok {
		return nil, errors.New("its key is not a deployment's")
	}
	var d store.Deployment
	if err := json.Unmarshal(kv.Value, &d); err != nil {
		return nil, err
	}
	if d.Account != account || d.Project != project || d.Environment != env || d.ID == "" {
		return nil, errors.New("it holds the record of another deployment than its key names")
	}
	d.Revision = uint64(kv.ModRevision)
	return &d, nil
}

// splitKey splits a key under prefix into its three parts (account,
// project and environment or id).
func splitKey(prefix, key string) (account, project, last string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// encode is the stored form of d: bbolt's JSON, without the revision, which
// is the key's.
func encode(d *store.Deployment) (string, error) {
	rec := *d
	rec.Revision = 0
	b, err := json.Marshal(&rec)
	return string(b), err
}

// standIn is what reads return for the undecodable deployment record of
// env: its account, project and environment, its id from the id index, and
// why it is damaged. The index is read as it is now rather than at the
// record's revision, which a compaction may have removed: an environment's
// index entry changes only when its deployment is created or deleted.
func (s *Store) standIn(ctx context.Context, account, project, env string, cause error) (*store.Deployment, error) {
	d := &store.Deployment{Account: account, Project: project, Environment: env,
		Damaged: fmt.Sprintf("its stored record does not decode (%v)", cause)}
	prefix := s.projectPrefix("ids", account, project)
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, etcdkv.Unavailable("read the deployment id index", s.prefix, err)
	}
	for _, kv := range resp.Kvs {
		if string(kv.Value) == env {
			d.ID = string(kv.Key[len(prefix):])
			break
		}
	}
	return d, nil
}
