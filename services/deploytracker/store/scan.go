package store

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/revlog"
)

// scan reads every record of bucket in key order, in short read
// transactions (see revlog.Scan).
func (s *Store) scan(bucket []byte, visit func(tx *bolt.Tx, k, v []byte)) error {
	return revlog.Scan(s.db, bucket, visit, nil)
}

// DeploymentRecord is one deployment record as a scan reads it.
type DeploymentRecord struct {
	// Account, Project and Environment come from the record's key.
	Account, Project, Environment string
	// Deployment is the decoded record: a stand-in with Damaged set when
	// the record does not decode.
	Deployment *Deployment
	// IndexedEnvironment is what the id index holds for the deployment's
	// id, read in the same transaction ("" when it has nothing).
	IndexedEnvironment string
}

// ScanDeployments returns every deployment record, in key order, read in
// short read transactions. It changes nothing.
func (s *Store) ScanDeployments() ([]DeploymentRecord, error) {
	var out []DeploymentRecord
	err := s.scan(bucketDeployments, func(tx *bolt.Tx, k, v []byte) {
		account, project, env := splitKey(k)
		r := DeploymentRecord{Account: account, Project: project, Environment: env}
		var d Deployment
		if err := json.Unmarshal(v, &d); err != nil {
			r.Deployment = standIn(tx, k, err)
		} else {
			r.Deployment = d.clone()
		}
		if id := r.Deployment.ID; id != "" {
			r.IndexedEnvironment = string(tx.Bucket(bucketIDs).Get(idKey(account, project, id)))
		}
		out = append(out, r)
	})
	return out, err
}

// DanglingID is an id index entry whose deployment record is missing.
type DanglingID struct {
	Account, Project, ID, Environment string
}

// ScanIDs returns the id index entries that point at no deployment record.
func (s *Store) ScanIDs() ([]DanglingID, error) {
	var out []DanglingID
	err := s.scan(bucketIDs, func(tx *bolt.Tx, k, v []byte) {
		account, project, id := splitKey(k)
		if tx.Bucket(bucketDeployments).Get(envKey(account, project, string(v))) == nil {
			out = append(out, DanglingID{Account: account, Project: project, ID: id, Environment: string(v)})
		}
	})
	return out, err
}

// PendingRecord is one deploy in progress as a scan reads it.
type PendingRecord struct {
	Account, Project, Environment string
	// StartedAt is zero when the record does not decode.
	StartedAt   time.Time
	Undecodable bool
}

// ScanPending returns every deploy in progress.
func (s *Store) ScanPending() ([]PendingRecord, error) {
	var out []PendingRecord
	err := s.scan(bucketPending, func(_ *bolt.Tx, k, v []byte) {
		account, project, rest := splitKey(k)
		env, _, _ := bytes.Cut([]byte(rest), []byte{0})
		r := PendingRecord{Account: account, Project: project, Environment: string(env)}
		var p Pending
		if err := json.Unmarshal(v, &p); err != nil {
			r.Undecodable = true
		} else {
			r.StartedAt = p.StartedAt
		}
		out = append(out, r)
	})
	return out, err
}

// ScanChanges counts the changelog entries and returns the revisions of
// those that do not decode.
func (s *Store) ScanChanges() (n int64, undecodable []uint64, err error) {
	return s.log.Check(s.db, func(v []byte) error {
		_, err := decodeEntry(v)
		return err
	})
}
