package etcdstore

import (
	"github.com/certbind/certbind/internal/etcdkv"
	"github.com/certbind/certbind/services/certmgr/store"
)

// ScanCertificates calls fn with every certificate record, in key order,
// read in pages of bounded reads (etcdkv.Scan); it changes nothing. A
// record that does not decode is passed as a stand-in with Damaged set.
// IndexedID is left empty: this scan serves the metrics, not Verify.
func (s *Store) ScanCertificates(fn func(store.CertificateRecord) error) error {
	cp := s.prefix + "certs/"
	return etcdkv.Scan(s.cli, s.timeout, s.prefix, cp, func(kv *etcdkv.KeyValue) error {
		account, project, id, ok := splitKey(cp, string(kv.Key))
		if !ok {
			// Not a certificate's key at all: nothing can name it.
			return nil
		}
		c, err := s.decode(kv)
		if err != nil {
			c = standIn(account, project, id, nil, err)
		}
		return fn(store.CertificateRecord{Account: account, Project: project, ID: id, Certificate: c})
	})
}
