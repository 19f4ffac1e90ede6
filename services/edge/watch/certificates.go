package watch

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/edge/state"
)

// NewCertificates returns a follower of certmgr's certificate stream into
// st, on conn, which must carry the edge's key.
func NewCertificates(conn grpc.ClientConnInterface, st *state.Store, scope Scope, log *slog.Logger) *Follower {
	c := certificates{store: st, log: log}
	return newFollower(feed[certmgrv1.WatchCertificatesRequest, certmgrv1.WatchCertificatesResponse]{
		name:    "certificates",
		watch:   certmgrv1.NewDistributionServiceClient(conn).WatchCertificates,
		collect: c.collect,
		install: func(next, collected *state.Snapshot) { next.Certificates = collected.Certificates },
		apply:   c.apply,
	}, st, scope, log)
}

// certificates converts and applies the certificate stream's items and
// changes.
type certificates struct {
	store *state.Store
	log   *slog.Logger
}

func (c certificates) collect(m *certmgrv1.WatchCertificatesResponse, into *state.Snapshot) {
	if cert := c.usable(m.GetSnapshotItem()); cert.ID != "" {
		into.Certificates[cert.ID] = cert
	}
}

func (c certificates) apply(m *certmgrv1.WatchCertificatesResponse) {
	ch := m.GetChange()
	switch ch.GetType() {
	case certmgrv1.ChangeType_CHANGE_TYPE_DELETED, certmgrv1.ChangeType_CHANGE_TYPE_REMOVED_FROM_SCOPE:
		c.store.Update(func(next *state.Snapshot) { delete(next.Certificates, ch.GetCertificateId()) })
		return
	}
	cert := c.usable(ch.GetMaterial())
	if cert.ID == "" {
		return
	}
	c.store.Update(func(next *state.Snapshot) {
		// Unusable material does not replace a usable version this edge
		// already holds: its routes keep working with it.
		if prev := next.Certificates[cert.ID]; cert.Unavailable != "" && prev != nil && prev.Unavailable == "" {
			c.log.Warn("unusable certificate material; keeping the version this edge holds", slog.String("certificateId", cert.ID),
				slog.Int("version", int(prev.Version)), slog.String("error", cert.Unavailable))
			return
		}
		next.Certificates[cert.ID] = cert
	})
}

// usable converts streamed material. Material certmgr reports damaged, or
// that does not decode here, becomes a certificate without TLS material that
// says why, so that routes that use it answer 502 naming it and the status
// and metrics count it. It is logged once per version.
func (c certificates) usable(m *certmgrv1.CertificateMaterial) *state.Certificate {
	cert, err := convert(m)
	if err == nil {
		return cert
	}
	pc := m.GetCertificate()
	cert = &state.Certificate{
		ID: pc.GetId(), Name: pc.GetName(), Account: pc.GetAccount(), Project: pc.GetProject(), Kind: pc.GetKind(),
		State: pc.GetState(), EnvironmentTypes: pc.GetEnvironmentTypes(), Version: pc.GetVersion(),
		Fingerprint: pc.GetFingerprintSha256(), Revision: pc.GetRevision(),
		Unavailable: "its material did not decode on this edge (" + err.Error() + ")", UnavailableReason: "invalid_material",
	}
	if d := pc.GetDamaged(); d != "" {
		cert.Unavailable, cert.UnavailableReason = "damaged in certmgr: "+d, "damaged"
	}
	c.log.Error("certificate unavailable: routes that use it answer 502 until it is repaired", slog.String("certificateId", cert.ID),
		slog.String("account", cert.Account), slog.String("name", cert.Name), slog.Int("version", int(cert.Version)), slog.String("error", cert.Unavailable))
	return cert
}

// convert turns streamed material into what TLS needs.
func convert(m *certmgrv1.CertificateMaterial) (*state.Certificate, error) {
	pc := m.GetCertificate()
	if pc == nil {
		return nil, errors.New("no certificate in the material")
	}
	out := &state.Certificate{
		ID: pc.GetId(), Name: pc.GetName(), Account: pc.GetAccount(), Project: pc.GetProject(), Kind: pc.GetKind(),
		State: pc.GetState(), EnvironmentTypes: pc.GetEnvironmentTypes(), Version: pc.GetVersion(),
		Fingerprint: pc.GetFingerprintSha256(), Revision: pc.GetRevision(),
	}
	var chain [][]byte
	rest := []byte(pc.GetCertificatePem())
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			chain = append(chain, b.Bytes)
		}
	}
	if len(chain) == 0 {
		return nil, errors.New("no certificate in the chain")
	}
	switch pc.GetKind() {
	case "ca":
		pool := x509.NewCertPool()
		for _, der := range chain {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, err
			}
			pool.AddCert(c)
		}
		out.Pool = pool
	default:
		leaf, err := x509.ParseCertificate(chain[0])
		if err != nil {
			return nil, err
		}
		key, err := x509.ParsePKCS8PrivateKey(m.GetPrivateKeyPkcs8())
		if err != nil {
			return nil, fmt.Errorf("private key: %w", err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, errors.New("private key cannot sign")
		}
		out.TLS = &tls.Certificate{Certificate: chain, PrivateKey: signer, Leaf: leaf}
	}
	return out, nil
}
