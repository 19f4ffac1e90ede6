package etcdstore

import (
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// The start-up checks of the master key, as on the bbolt store: the check
// value binds the store to the key its data is sealed with.

func (s *Store) keyCheckKey() string { return s.prefix + "meta/masterKeyCheck" }

// KeyCheck returns the master key check value, or nil if the store has
// none (it is new).
func (s *Store) KeyCheck() ([]byte, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keyCheckKey())
	if err != nil {
		return nil, etcdkv.Unavailable("read the master key check value", s.prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

// SetKeyCheck stores the master key check value. It never replaces one
// (the error is then store.ErrKeyCheckExists), so of two replicas starting
// a new store with different keys only one binds it.
func (s *Store) SetKeyCheck(v []byte) error {
	ctx, cancel := s.ctx()
	defer cancel()
	key := s.keyCheckKey()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(v))).
		Commit()
	if err != nil {
		return etcdkv.Unavailable("store the master key check value", s.prefix, err)
	}
	if !resp.Succeeded {
		return store.ErrKeyCheckExists
	}
	return nil
}

// HasCertificates reports whether the store holds at least one certificate.
func (s *Store) HasCertificates() (bool, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.prefix+"certs/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return false, etcdkv.Unavailable("count certificates", s.prefix, err)
	}
	return resp.Count > 0, nil
}

// scanBatch is how many certificate records one read of ForEachSealedKey
// fetches (a variable so that a test can make pages small).
var scanBatch int64 = 256

// ForEachSealedKey calls fn with every certificate that holds a sealed
// private key, until fn returns an error, which it then returns. The
// records are read in batches, each batch at the revision of the first, so
// a big store is never read in one response.
func (s *Store) ForEachSealedKey(fn func(c *store.Certificate) error) error {
	ctx, cancel := s.ctx()
	defer cancel()
	prefix := s.prefix + "certs/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(scanBatch)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, from, opts...)
		if err != nil {
			return etcdkv.Unavailable("read certificates", s.prefix, err)
		}
		rev = resp.Header.Revision
		for _, kv := range resp.Kvs {
			var c store.Certificate
			if json.Unmarshal(kv.Value, &c) != nil || len(c.SealedKey) == 0 {
				// A record that cannot be read harms only itself.
				continue
			}
			c.Revision = uint64(kv.ModRevision)
			if err := fn(&c); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
