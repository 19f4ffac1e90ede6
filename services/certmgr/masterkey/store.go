package masterkey

import "github.com/certbind/certbind/services/certmgr/store"

// KeyRecords is what Resume needs of the store: the check value of the
// key its data is sealed with, the check value of the key a rotation is
// moving it to (nil when none is under way), and a name for the store in
// error messages (the bbolt store's file path).
type KeyRecords interface {
	KeyCheck() ([]byte, error)
	KeyNext() ([]byte, error)
	Path() string
}

// Resealer is what a Rotator needs of the store: KeyRecords, recording the
// rotation's next key, the walks that re-seal every sealed key in place
// (certificate records by key, changelog entries by revision) and the
// final check that flips the store to the next key.
//
// The walks take the bbolt store's shapes: RewrapCertificates resumes after
// a raw record key, and RewrapChangelog and FinishKeyRotation read the
// changelog, whose entries hold whole records with sealed keys. A backend
// whose changelog keeps no sealed keys implements the changelog walk as a
// no-op. Revisions are only compared, never assumed to step by one.
type Resealer interface {
	KeyRecords
	Revision() (uint64, error)
	BeginKeyRotation(next []byte, sameKey func(recorded []byte) bool) error
	RewrapCertificates(after []byte, limit int, fn store.Rewrap) (next []byte, st store.RewrapStats, err error)
	RewrapChangelog(after uint64, limit int, fn store.Rewrap) (last uint64, done bool, st store.RewrapStats, err error)
	FinishKeyRotation(since uint64, fn store.Rewrap) (done bool, err error)
}

var _ Resealer = (*store.Store)(nil)
