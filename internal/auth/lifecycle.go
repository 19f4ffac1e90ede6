package auth

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// KeyLifecycle is a KeyStore that can also list, revoke and note the use of
// keys: the real store.
type KeyLifecycle interface {
	ListAPIKeys(account string) ([]APIKey, error)
	RevokeAPIKey(id, account string, at time.Time) (APIKey, error)
	RevokedAPIKeyIDs() ([]string, error)
	TouchAPIKeys(used map[string]time.Time) error
}

// ErrKeyNotFound: no key with that id (in the caller's account). A
// KeyStore answers it, or an error that wraps it, for a key it does not hold.
var ErrKeyNotFound = errors.New("api key not found")

var errNoLifecycle = errors.New("this key store cannot list or revoke keys")

// List returns the keys of account, every key when account is empty.
func (a *Authenticator) List(account string) ([]APIKey, error) {
	if a.lc == nil {
		return nil, errNoLifecycle
	}
	// What is noted but not yet written shows too.
	keys, err := a.lc.ListAPIKeys(account)
	for i := range keys {
		if t, ok := a.usage.pending(keys[i].ID); ok && (keys[i].LastUsedAt == nil || t.After(*keys[i].LastUsedAt)) {
			keys[i].LastUsedAt = &t
		}
	}
	return keys, err
}

// Revoke revokes the key with this id (only in account, when it is not
// empty): it is written to the store before Revoke returns, its open
// streams here end, and followers of Revocations hear of it. A key of
// another account is ErrKeyNotFound, as a missing one is.
func (a *Authenticator) Revoke(id, account string) (APIKey, error) {
	if a.lc == nil {
		return APIKey{}, errNoLifecycle
	}
	k, err := a.lc.RevokeAPIKey(id, account, a.now())
	if errors.Is(err, ErrKeyNotFound) {
		return APIKey{}, ErrKeyNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke api key: %w", err)
	}
	a.streams.Revoke(k.ID)
	a.watchers.publish(k.ID)
	return k, nil
}

// Revoked returns the ids of every revoked key.
func (a *Authenticator) Revoked() ([]string, error) {
	if a.lc == nil {
		return nil, nil
	}
	return a.lc.RevokedAPIKeyIDs()
}

// WatchRevocations returns a channel that receives the id of each key
// revoked from now on, and a function that stops it. When the receiver
// falls more than a buffer behind, the channel is closed: the receiver
// must start over from Revoked.
func (a *Authenticator) WatchRevocations() (<-chan string, func()) {
	return a.watchers.add()
}

// FlushLastUsed writes the times keys were last used, noted by
// Authenticate since the last flush, in one transaction. certmgr calls it
// about once a minute and when it stops, so a key in steady use costs one
// write a minute, not one per request.
func (a *Authenticator) FlushLastUsed() error {
	if a.lc == nil {
		return nil
	}
	used := a.usage.take()
	if len(used) == 0 {
		return nil
	}
	if err := a.lc.TouchAPIKeys(used); err != nil {
		// Put them back for the next attempt, unless newer ones came.
		for id, t := range used {
			a.usage.note(id, t)
		}
		return err
	}
	return nil
}

// usage holds the last use of each key since the last flush.
type usage struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (u *usage) note(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last == nil {
		u.last = map[string]time.Time{}
	}
	if at.After(u.last[id]) {
		u.last[id] = at
	}
}

func (u *usage) pending(id string) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.last[id]
	return t.UTC(), ok
}

func (u *usage) take() map[string]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	m := u.last
	u.last = nil
	return m
}

// watchers fans revocations out to the services that follow them.
type watchers struct {
	mu  sync.Mutex
	chs map[chan string]struct{}
}

// watcherBuffer is how many revocations a follower may lag behind before
// it is dropped (and starts over with the full list).
const watcherBuffer = 256

func (w *watchers) add() (<-chan string, func()) {
	ch := make(chan string, watcherBuffer)
	w.mu.Lock()
	if w.chs == nil {
		w.chs = map[chan string]struct{}{}
	}
	w.chs[ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		if _, ok := w.chs[ch]; ok {
			delete(w.chs, ch)
			close(ch)
		}
		w.mu.Unlock()
	}
}

func (w *watchers) publish(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.chs {
		select {
		case ch <- id:
		default:
			delete(w.chs, ch)
			close(ch)
		}
	}
}
