package watch

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/edge/state"
)

// Scope narrows what an edge receives; empty fields mean all its key allows.
type Scope struct {
	Account, Project, EnvironmentType string
}

// Certificates follows certmgr's certificate stream into a state.Store.
type Certificates struct {
	client certmgrv1.DistributionServiceClient
	store  *state.Store
	scope  Scope
	log    *slog.Logger
	t      tracker
}

// NewCertificates returns a follower on conn, which must carry the edge's key.
func NewCertificates(conn grpc.ClientConnInterface, st *state.Store, scope Scope, log *slog.Logger) *Certificates {
	c := &Certificates{client: certmgrv1.NewDistributionServiceClient(conn), store: st, scope: scope, log: log}
	c.t.s.Name = "certificates"
	return c
}

// Status reports the stream's progress.
func (c *Certificates) Status() Status { return c.t.get() }

// Run follows the stream until ctx ends.
func (c *Certificates) Run(ctx context.Context) error { return follow(ctx, c.log, &c.t, c.session) }

func (c *Certificates) session(ctx context.Context, from uint64) (uint64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.WatchCertificates(ctx, &certmgrv1.WatchCertificatesRequest{
		FromRevision: from, Epoch: c.t.get().Epoch, Account: c.scope.Account, Project: c.scope.Project, EnvironmentType: c.scope.EnvironmentType,
	})
	if err != nil {
		return from, err
	}
	rev := from
	var snapshot map[string]*state.Certificate // non-nil while a snapshot is arriving
	for {
		ev, err := stream.Recv()
		if err != nil {
			return rev, err
		}
		c.t.update(func(s *Status) { s.Connected, s.LastEvent, s.KeyRefused = true, time.Now(), false })
		switch e := ev.GetEvent().(type) {
		case *certmgrv1.WatchCertificatesResponse_Resync:
			c.log.Info("certificate stream resync", slog.String("reason", e.Resync.GetReason()))
			snapshot = map[string]*state.Certificate{}
			c.t.update(func(s *Status) { s.Resyncs++ })
		case *certmgrv1.WatchCertificatesResponse_SnapshotItem:
			if snapshot == nil {
				return rev, fmt.Errorf("%w: snapshot item outside a snapshot", errProtocol)
			}
			cert := c.usable(e.SnapshotItem)
			if cert.ID != "" {
				snapshot[cert.ID] = cert
			}
		case *certmgrv1.WatchCertificatesResponse_SnapshotComplete:
			if snapshot == nil {
				return rev, fmt.Errorf("%w: snapshot end without a snapshot", errProtocol)
			}
			c.store.Update(func(next *state.Snapshot) { next.Certificates = snapshot })
			rev, snapshot = e.SnapshotComplete.GetRevision(), nil
			c.t.update(func(s *Status) { s.Revision, s.Epoch, s.Synced = rev, e.SnapshotComplete.GetEpoch(), true })
		case *certmgrv1.WatchCertificatesResponse_Change:
			if snapshot != nil {
				return rev, fmt.Errorf("%w: change inside a snapshot", errProtocol)
			}
			c.apply(e.Change)
			rev = e.Change.GetRevision()
			c.t.update(func(s *Status) { s.Revision, s.Synced = rev, true })
		case *certmgrv1.WatchCertificatesResponse_Heartbeat:
			if err := sameEpoch(c.t.get().Epoch, e.Heartbeat.GetEpoch(), snapshot != nil); err != nil {
				return rev, err
			}
			if snapshot == nil && e.Heartbeat.GetRevision() > rev {
				rev = e.Heartbeat.GetRevision()
			}
			c.t.update(func(s *Status) { s.Revision, s.Synced = rev, true })
		}
	}
}

func (c *Certificates) apply(ch *certmgrv1.CertificateChange) {
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
func (c *Certificates) usable(m *certmgrv1.CertificateMaterial) *state.Certificate {
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
