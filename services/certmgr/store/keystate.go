package store

import "errors"

// ErrKeyNotEverywhere is returned by a shared store asked to begin a
// master-key rotation while a live replica does not hold the next key.
var ErrKeyNotEverywhere = errors.New("not every certmgr replica holds the next master key")

// KeyState is a shared store's master key records read together (etcd's,
// where several certmgr replicas each hold their own copy of the key
// files): the check value of the key the data is sealed with, the check
// value of the key a rotation is moving it to (nil when none is under
// way), and the revision of the last write of each, which a replica's
// writes compare so that none seals a value under a key the store no
// longer asks for.
type KeyState struct {
	Check, Next       []byte
	CheckRev, NextRev int64
}

// Same reports whether k and o are the same records, by revision.
func (k KeyState) Same(o KeyState) bool {
	return k.CheckRev == o.CheckRev && k.NextRev == o.NextRev
}

// Replica is what a certmgr replica of a shared store advertises: its name
// and the ids of the master keys it holds (never the keys).
type Replica struct {
	Name   string   `json:"name"`
	KeyIDs []string `json:"keyIds"`
}
