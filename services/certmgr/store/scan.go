package store

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/revlog"
)

// scan reads every record of bucket in key order, in short read
// transactions (see revlog.Scan).
func (s *Store) scan(bucket []byte, visit func(tx *bolt.Tx, k, v []byte), flush func() error) error {
	return revlog.Scan(s.db, bucket, visit, flush)
}

// CertificateRecord is one certificate record as a scan reads it.
type CertificateRecord struct {
	// Account, Project and ID come from the record's key.
	Account, Project, ID string
	// Certificate is the decoded record: a stand-in with Damaged set when
	// the record does not decode.
	Certificate *Certificate
	// IndexedID is the id the name index holds for the certificate's
	// name, read in the same transaction ("" when the index has none).
	IndexedID string
}

// ScanCertificates calls fn with every certificate record, in key order.
// It reads in short read transactions (see scan) and changes nothing; a
// write that lands during the scan may or may not be seen.
func (s *Store) ScanCertificates(fn func(CertificateRecord) error) error {
	var batch []CertificateRecord
	return s.scan(bucketCerts, func(tx *bolt.Tx, k, v []byte) {
		account, project, id := splitKey(k)
		r := CertificateRecord{Account: account, Project: project, ID: id}
		var c Certificate
		if err := json.Unmarshal(v, &c); err != nil {
			r.Certificate = standIn(tx, k, err)
		} else {
			r.Certificate = c.clone()
		}
		if r.Certificate.Name != "" {
			r.IndexedID = string(tx.Bucket(bucketNames).Get(nameKey(account, project, r.Certificate.Name)))
		}
		batch = append(batch, r)
	}, func() error {
		for _, r := range batch {
			if err := fn(r); err != nil {
				return err
			}
		}
		batch = batch[:0]
		return nil
	})
}

// DanglingName is a name index entry whose certificate record is missing.
type DanglingName struct {
	Account, Project, Name, ID string
}

// ScanNames returns the name index entries that point at no certificate
// record, checked in the transaction that read them.
func (s *Store) ScanNames() ([]DanglingName, error) {
	var out []DanglingName
	err := s.scan(bucketNames, func(tx *bolt.Tx, k, v []byte) {
		account, project, name := splitKey(k)
		if tx.Bucket(bucketCerts).Get(certKey(account, project, string(v))) == nil {
			out = append(out, DanglingName{Account: account, Project: project, Name: name, ID: string(v)})
		}
	}, nil)
	return out, err
}

// ScanAPIKeys counts the API key records and returns the ids (from their
// keys' position, as the hash is the key) of those that do not decode.
func (s *Store) ScanAPIKeys() (n int64, undecodable int64, err error) {
	err = s.scan(bucketAPIKeys, func(_ *bolt.Tx, _, v []byte) {
		n++
		var k APIKey
		if json.Unmarshal(v, &k) != nil {
			undecodable++
		}
	}, nil)
	return n, undecodable, err
}

// ScanChanges counts the changelog entries and returns the revisions of
// those that do not decode.
func (s *Store) ScanChanges() (n int64, undecodable []uint64, err error) {
	return s.log.Check(s.db, func(v []byte) error {
		_, err := decodeEntry(v)
		return err
	})
}
