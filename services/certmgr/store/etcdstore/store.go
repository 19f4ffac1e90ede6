package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// Options configure a Store.
type Options struct {
	// Window is how many changes the feed keeps in memory for resuming
	// subscribers; zero means etcdkv.DefaultWindow.
	Window int
	// Logger receives a line when the feed's watch breaks; nil discards
	// them.
	Logger *slog.Logger
	// Prefix is where the store keeps its keys, e.g. "/certbind/certmgr/";
	// it starts and ends with "/".
	Prefix string
	// Timeout bounds each call to the store; zero means
	// etcdkv.DefaultTimeout.
	Timeout time.Duration
	// OwnerTTL is the lease of the deletes and removals of environment
	// types this replica has in progress (certs.Owners); zero means
	// DefaultOwnerTTL. etcd counts leases in whole seconds.
	OwnerTTL time.Duration
	// Audit bounds the audit trail kept under PREFIXaudit/; zero fields
	// take audit's defaults.
	Audit audit.Retention
}

// Store is certmgr's state in etcd. It is safe for concurrent use, and any
// number of Stores (one per replica) may share a prefix.
type Store struct {
	cli     *clientv3.Client
	prefix  string
	timeout time.Duration
	epoch   string
	feed    *etcdkv.Window[store.Entry]
	owners  owners
	audit   etcdkv.AuditTrail
	keys    keyGuard
	// advertised is what Advertise last wrote, and on which lease.
	advertised struct {
		mu    sync.Mutex
		lease clientv3.LeaseID
		value string
	}
}

// Open opens the store under opts.Prefix, recording its epoch if it is new,
// and starts its change feed at the current revision. The client stays the
// caller's: the store never closes it, Close stops the feed.
func Open(cli *clientv3.Client, opts Options) (*Store, error) {
	if err := etcdkv.CheckPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = etcdkv.DefaultTimeout
	}
	if opts.OwnerTTL <= 0 {
		opts.OwnerTTL = DefaultOwnerTTL
	}
	s := &Store{cli: cli, prefix: opts.Prefix, timeout: opts.Timeout,
		owners: owners{lease: etcdkv.NewLease(cli, opts.OwnerTTL), held: map[string]bool{}},
		audit:  etcdkv.AuditTrail{Prefix: opts.Prefix + "audit/", Retention: opts.Audit}}
	s.keys.changed = make(chan struct{}, 1)
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
	return s, nil
}

// Close stops the store's change feed and revokes the replica's lease,
// so that another replica resumes at once what this one leaves
// unfinished. The client stays the caller's.
func (s *Store) Close() error {
	s.feed.Close()
	return s.closeOwners()
}

// Epoch returns the store's epoch, the same for every replica.
func (s *Store) Epoch() string { return s.epoch }

// Path names the store in error messages, as the bbolt store's file path
// does.
func (s *Store) Path() string { return "etcd prefix " + s.prefix }

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

func (s *Store) certKey(account, project, id string) string {
	return s.prefix + "certs/" + account + "/" + project + "/" + id
}

func (s *Store) nameKey(account, project, name string) string {
	return s.prefix + "names/" + account + "/" + project + "/" + name
}

// projectPrefix is the prefix of a project's keys of one kind ("certs" or
// "names").
func (s *Store) projectPrefix(kind, account, project string) string {
	return s.prefix + kind + "/" + account + "/" + project + "/"
}

// decode reads a certificate record of this store.
func (s *Store) decode(kv *etcdkv.KeyValue) (*store.Certificate, error) {
	return decodeCertificate(s.prefix+"certs/", kv)
}

// decodeCertificate reads the certificate record kv stored under
// certsPrefix; its revision is the key's. A value that is not a
// certificate's JSON, or that is another certificate's (a misplaced or
// foreign write), does not decode: reads show it as damaged rather than as
// a certificate its key does not name.
func decodeCertificate(certsPrefix string, kv *etcdkv.KeyValue) (*store.Certificate, error) {
	account, project, id, ok := splitKey(certsPrefix, string(kv.Key))
	if !ok {
		return nil, errors.New("its key is not a certificate's")
	}
	var c store.Certificate
	if err := json.Unmarshal(kv.Value, &c); err != nil {
		return nil, err
	}
	if c.ID != id || c.Account != account || c.Project != project {
		return nil, errors.New("it holds the record of another certificate than its key names")
	}
	c.Revision = uint64(kv.ModRevision)
	return &c, nil
}

// splitKey splits a key under prefix into its three parts (account,
// project and id or name).
func splitKey(prefix, key string) (account, project, last string, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	parts := strings.Split(rest, "/")
	if !found || len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// encode is the stored form of c: bbolt's JSON, the private key as sealed
// as it came, without the revision, which is the key's.
func encode(c *store.Certificate) (string, error) { return encodeChange(c, "") }

// record is a certificate as stored: bbolt's JSON and the type of the
// change that wrote it, which the change feed reads from the watch (a key
// and its value alone cannot tell a disable from a rotation).
type record struct {
	*store.Certificate
	Change string `json:"change,omitempty"`
}

// encodeChange is the stored form of c written by a change of type
// change ("" for a create, which the feed tells by the key being new).
func encodeChange(c *store.Certificate, change string) (string, error) {
	rec := *c
	rec.Revision = 0
	b, err := json.Marshal(record{Certificate: &rec, Change: change})
	return string(b), err
}

// standIn is what reads return for the undecodable record of a
// certificate: its id, account and project, its name from names (the
// project's name index, read at the same revision) and why it is damaged.
// It has no state, kind, types or material, so nothing can use it.
func standIn(account, project, id string, names map[string]string, cause error) *store.Certificate {
	return &store.Certificate{ID: id, Account: account, Project: project, Name: names[id],
		Damaged: fmt.Sprintf("its stored record does not decode (%v)", cause)}
}

// undecodable is the error of a write that needs the decoded record. It
// names the certificate, never the record's bytes.
func undecodable(account, project, id string, err error) error {
	return fmt.Errorf("%w: certificate %s in %s/%s (%v); it cannot be changed, only deleted: redeploy the deployments that use it with another certificate, delete it and upload it again, or restore the store from a backup",
		store.ErrUndecodable, id, account, project, err)
}

// project is a project's certificates and name index, read at one revision.
type project struct {
	certsPrefix string // the store's, for decoding
	rev         int64
	certs       map[string]*etcdkv.KeyValue // by id
	names       map[string]string           // id by name
	ids         map[string]string           // name by id
	order       []string                    // names, sorted
}

// readProject reads a project's certificates and names in one
// linearizable transaction.
func (s *Store) readProject(ctx context.Context, account, project string) (*project, error) {
	cp, np := s.projectPrefix("certs", account, project), s.projectPrefix("names", account, project)
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(cp, clientv3.WithPrefix()),
		clientv3.OpGet(np, clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return nil, etcdkv.Unavailable("read the project's certificates", s.prefix, err)
	}
	p := newProject(resp.Header.Revision, cp, np, etcdkv.Values(resp, 0), etcdkv.Values(resp, 1))
	p.certsPrefix = s.prefix + "certs/"
	return p, nil
}

func newProject(rev int64, cp, np string, certs, names []*etcdkv.KeyValue) *project {
	p := &project{rev: rev, certs: map[string]*etcdkv.KeyValue{}, names: map[string]string{}, ids: map[string]string{}}
	for _, kv := range certs {
		p.certs[string(kv.Key[len(cp):])] = kv
	}
	// etcd returns a range in key order, so names come sorted.
	for _, kv := range names {
		name := string(kv.Key[len(np):])
		p.names[name] = string(kv.Value)
		p.ids[string(kv.Value)] = name
		p.order = append(p.order, name)
	}
	return p
}

// cert returns the certificate with id, a stand-in if its record does not
// decode, or nil.
func (p *project) cert(account, project, id string) *store.Certificate {
	kv := p.certs[id]
	if kv == nil {
		return nil
	}
	c, err := decodeCertificate(p.certsPrefix, kv)
	if err != nil {
		return standIn(account, project, id, p.ids, err)
	}
	return c
}
