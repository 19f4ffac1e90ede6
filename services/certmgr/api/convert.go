package api

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/store"
)

// toProto is the public view of a stored certificate: everything but the
// sealed key.
func toProto(c *store.Certificate, now time.Time) *certmgrv1.Certificate {
	return &certmgrv1.Certificate{
		Id:                c.ID,
		Name:              c.Name,
		Account:           c.Account,
		Project:           c.Project,
		EnvironmentTypes:  c.EnvironmentTypes,
		State:             c.State,
		Kind:              c.Kind,
		Subject:           c.Subject,
		Issuer:            c.Issuer,
		SerialNumber:      c.SerialNumber,
		FingerprintSha256: c.Fingerprint,
		NotBefore:         timestamppb.New(c.NotBefore),
		NotAfter:          timestamppb.New(c.NotAfter),
		CreatedAt:         timestamppb.New(c.CreatedAt),
		UpdatedAt:         timestamppb.New(c.UpdatedAt),
		DaysUntilExpiry:   certs.DaysUntilExpiry(c.NotAfter, now),
		ExpiringSoon:      c.NotAfter.Before(now.Add(certs.ExpiringSoon)),
		Version:           c.Version,
		KeyAlgorithm:      c.KeyAlgorithm,
		DnsNames:          c.DNSNames,
		CertificatePem:    string(c.ChainPEM),
		Revision:          c.Revision,
	}
}
