package etcdstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// API keys are kept by the hash of their secret, as in the bbolt store;
// they are not certificate changes, so their writes make no change.

func (s *Store) apiKeyKey(hash string) string { return s.prefix + "apikeys/" + hash }

// PutAPIKey stores an API key record under its hash, if no key has it.
func (s *Store) PutAPIKey(k store.APIKey) error {
	if err := etcdkv.CheckKeyParts(k.Hash); err != nil {
		return err
	}
	ctx, cancel := s.ctx()
	defer cancel()
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	key := s.apiKeyKey(k.Hash)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(data))).
		Commit()
	if err != nil {
		return etcdkv.Unavailable("store the API key", s.prefix, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("api key hash collision")
	}
	return nil
}

// APIKeyByHash returns the key whose secret hashes to hash.
func (s *Store) APIKeyByHash(hash string) (store.APIKey, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.apiKeyKey(hash))
	if err != nil {
		return store.APIKey{}, etcdkv.Unavailable("read the API key", s.prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return store.APIKey{}, store.ErrKeyNotFound
	}
	var k store.APIKey
	if err := json.Unmarshal(resp.Kvs[0].Value, &k); err != nil {
		return store.APIKey{}, fmt.Errorf("read api key record: %w", err)
	}
	return k, nil
}

// apiKey is one stored key with the revision it was read at.
type apiKey struct {
	k  store.APIKey
	kv *etcdkv.KeyValue
}

// apiKeys reads every key record.
func (s *Store) apiKeys(ctx context.Context) ([]apiKey, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"apikeys/", clientv3.WithPrefix())
	if err != nil {
		return nil, etcdkv.Unavailable("read the API keys", s.prefix, err)
	}
	out := make([]apiKey, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var k store.APIKey
		if err := json.Unmarshal(kv.Value, &k); err != nil {
			return nil, fmt.Errorf("read api key record: %w", err)
		}
		out = append(out, apiKey{k, kv})
	}
	return out, nil
}

// ListAPIKeys returns the keys of account (every key when account is
// empty), oldest first.
func (s *Store) ListAPIKeys(account string) ([]store.APIKey, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	all, err := s.apiKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.APIKey
	for _, a := range all {
		if account == "" || a.k.Account == account {
			out = append(out, a.k)
		}
	}
	slices.SortFunc(out, func(a, b store.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeAPIKey marks the key with this id revoked at at, and returns it.
// When account is not empty, a key of another account is
// store.ErrKeyNotFound, as a missing one is. A key already revoked keeps
// its first RevokedAt.
func (s *Store) RevokeAPIKey(id, account string, at time.Time) (store.APIKey, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var out store.APIKey
	err := etcdkv.Retry(ctx, func(ctx context.Context) error {
		all, err := s.apiKeys(ctx)
		if err != nil {
			return err
		}
		for _, a := range all {
			k := a.k
			if k.ID != id {
				continue
			}
			if account != "" && k.Account != account {
				return store.ErrKeyNotFound
			}
			if k.RevokedAt != nil {
				out = k
				return nil
			}
			at := at.UTC()
			k.RevokedAt = &at
			if err := s.replaceAPIKeys(ctx, []apiKey{{k, a.kv}}); err != nil {
				return err
			}
			out = k
			return nil
		}
		return store.ErrKeyNotFound
	})
	return out, err
}

// RevokedAPIKeyIDs returns the ids of every revoked key.
func (s *Store) RevokedAPIKeyIDs() ([]string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	all, err := s.apiKeys(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, a := range all {
		if a.k.RevokedAt != nil {
			ids = append(ids, a.k.ID)
		}
	}
	return ids, nil
}

// TouchAPIKeys records when keys were last used: used maps key ids to
// times. A time older than the one stored is ignored, and ids that are not
// stored (the admin key) are skipped.
func (s *Store) TouchAPIKeys(used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	return etcdkv.Retry(ctx, func(ctx context.Context) error {
		all, err := s.apiKeys(ctx)
		if err != nil {
			return err
		}
		var updates []apiKey
		for _, a := range all {
			at, ok := used[a.k.ID]
			if !ok || (a.k.LastUsedAt != nil && !at.After(*a.k.LastUsedAt)) {
				continue
			}
			at = at.UTC()
			a.k.LastUsedAt = &at
			updates = append(updates, a)
		}
		return s.replaceAPIKeys(ctx, updates)
	})
}

// maxTxnOps is how many key records one transaction rewrites, under
// etcd's default limit of operations per transaction (128).
const maxTxnOps = 64

// replaceAPIKeys writes the records, each only if it is still the one
// read; etcdkv.ErrConflict if one changed meanwhile (the batches written
// before it stay, and a retry finds them current).
func (s *Store) replaceAPIKeys(ctx context.Context, keys []apiKey) error {
	for batch := range slices.Chunk(keys, maxTxnOps) {
		var cmps []clientv3.Cmp
		var ops []clientv3.Op
		for _, a := range batch {
			data, err := json.Marshal(a.k)
			if err != nil {
				return err
			}
			key := string(a.kv.Key)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", a.kv.ModRevision))
			ops = append(ops, clientv3.OpPut(key, string(data)))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return etcdkv.Unavailable("update API keys", s.prefix, err)
		}
		if !resp.Succeeded {
			return etcdkv.ErrConflict
		}
	}
	return nil
}
