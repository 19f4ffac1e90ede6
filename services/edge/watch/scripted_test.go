package watch_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// The real certmgr and deploytracker send consecutive revisions and never
// break the protocol, so these tests follow a scripted control plane: the
// real distribution services, over mutual TLS on loopback, sending what
// each test tells them to.

// scripted serves one script per stream opened on it, in order. A nil
// message in a script ends the stream there with Unavailable; after the
// last message the stream stays open until the follower leaves it.
type scripted[Req, Resp any] struct {
	requests chan *Req
	scripts  chan []*Resp
}

func newScripted[Req, Resp any]() *scripted[Req, Resp] {
	return &scripted[Req, Resp]{requests: make(chan *Req, 16), scripts: make(chan []*Resp, 16)}
}

func (s *scripted[Req, Resp]) serve(req *Req, stream grpc.ServerStreamingServer[Resp]) error {
	ctx := stream.Context()
	s.requests <- req
	var script []*Resp
	select {
	case script = <-s.scripts:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, m := range script {
		if m == nil {
			return status.Error(codes.Unavailable, "the script ends the stream here")
		}
		if err := stream.Send(m); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// next waits for the follower to open a stream, returns its request and
// gives the stream script to send.
func (s *scripted[Req, Resp]) next(t *testing.T, script ...*Resp) *Req {
	t.Helper()
	select {
	case req := <-s.requests:
		s.scripts <- script
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("the follower did not open a stream within 10s")
		return nil
	}
}

// quiet fails if the follower opens another stream within d.
func (s *scripted[Req, Resp]) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case req := <-s.requests:
		t.Fatalf("the follower opened another stream (%v) although nothing was wrong", req)
	case <-time.After(d):
	}
}

type certStream = scripted[certmgrv1.WatchCertificatesRequest, certmgrv1.WatchCertificatesResponse]

type deployStream = scripted[deploytrackerv1.WatchDeploymentsRequest, deploytrackerv1.WatchDeploymentsResponse]

type certServer struct {
	certmgrv1.UnimplementedDistributionServiceServer
	s *certStream
}

func (c certServer) WatchCertificates(req *certmgrv1.WatchCertificatesRequest, stream grpc.ServerStreamingServer[certmgrv1.WatchCertificatesResponse]) error {
	return c.s.serve(req, stream)
}

type deployServer struct {
	deploytrackerv1.UnimplementedDeploymentDistributionServiceServer
	s *deployStream
}

func (d deployServer) WatchDeployments(req *deploytrackerv1.WatchDeploymentsRequest, stream grpc.ServerStreamingServer[deploytrackerv1.WatchDeploymentsResponse]) error {
	return d.s.serve(req, stream)
}

// controlPlane starts both scripted services on loopback behind mutual
// TLS and returns them with a client connection to them.
func controlPlane(t *testing.T) (*certStream, *deployStream, *grpc.ClientConn) {
	t.Helper()
	ca := testpki.NewCA(t, "Control plane CA")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	pair := func(c *testpki.Cert) tls.Certificate {
		kp, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	server := ca.Issue(t, testpki.Options{CommonName: "control plane", ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}})
	edge := ca.Issue(t, testpki.Options{CommonName: "edge"})

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair(server)},
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13})))
	certs, deploys := newScripted[certmgrv1.WatchCertificatesRequest, certmgrv1.WatchCertificatesResponse](),
		newScripted[deploytrackerv1.WatchDeploymentsRequest, deploytrackerv1.WatchDeploymentsResponse]()
	certmgrv1.RegisterDistributionServiceServer(srv, certServer{s: certs})
	deploytrackerv1.RegisterDeploymentDistributionServiceServer(srv, deployServer{s: deploys})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{pair(edge)}, MinVersion: tls.VersionTLS13})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return certs, deploys, conn
}

// run runs a follower until the test ends.
func run(t *testing.T, f interface{ Run(context.Context) error }) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Messages of the certificate stream.

func cResync(epoch string) *certmgrv1.WatchCertificatesResponse {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Resync{Resync: &certmgrv1.Resync{Reason: "scripted", Epoch: epoch}}}
}

func cItem(m *certmgrv1.CertificateMaterial) *certmgrv1.WatchCertificatesResponse {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotItem{SnapshotItem: m}}
}

func cComplete(rev uint64, epoch string) *certmgrv1.WatchCertificatesResponse {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotComplete{
		SnapshotComplete: &certmgrv1.SnapshotComplete{Revision: rev, Epoch: epoch}}}
}

func cHeartbeat(rev uint64, epoch string) *certmgrv1.WatchCertificatesResponse {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Heartbeat{Heartbeat: &certmgrv1.Heartbeat{Revision: rev, Epoch: epoch}}}
}

// cPut is a change that creates or replaces m's certificate; cDelete one
// that deletes id.
func cPut(rev uint64, m *certmgrv1.CertificateMaterial) *certmgrv1.WatchCertificatesResponse {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: &certmgrv1.CertificateChange{
		Revision: rev, Type: certmgrv1.ChangeType_CHANGE_TYPE_UPDATED, CertificateId: m.GetCertificate().GetId(), Material: m}}}
}

func cDelete(rev uint64, id string) *certmgrv1.WatchCertificatesResponse {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: &certmgrv1.CertificateChange{
		Revision: rev, Type: certmgrv1.ChangeType_CHANGE_TYPE_DELETED, CertificateId: id}}}
}

// material is a usable client certificate id at version 1.
func material(t *testing.T, ca *testpki.Cert, id string) *certmgrv1.CertificateMaterial {
	t.Helper()
	leaf := ca.Issue(t, testpki.Options{CommonName: id})
	block, _ := pem.Decode(leaf.KeyPEM)
	return &certmgrv1.CertificateMaterial{PrivateKeyPkcs8: block.Bytes, Certificate: &certmgrv1.Certificate{Id: id, Name: id,
		Account: "acme", Project: "shop", Kind: "client", State: "active", Version: 1, CertificatePem: string(leaf.CertPEM)}}
}

// Messages of the deployment stream.

func dResync(epoch string) *deploytrackerv1.WatchDeploymentsResponse {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Resync{Resync: &deploytrackerv1.DeploymentResync{Reason: "scripted", Epoch: epoch}}}
}

func dItem(env string) *deploytrackerv1.WatchDeploymentsResponse {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotItem{SnapshotItem: deployment(env)}}
}

func dComplete(rev uint64, epoch string) *deploytrackerv1.WatchDeploymentsResponse {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotComplete{
		SnapshotComplete: &deploytrackerv1.DeploymentSnapshotComplete{Revision: rev, Epoch: epoch}}}
}

func dHeartbeat(rev uint64, epoch string) *deploytrackerv1.WatchDeploymentsResponse {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Heartbeat{
		Heartbeat: &deploytrackerv1.DeploymentHeartbeat{Revision: rev, Epoch: epoch}}}
}

func dDeploy(rev uint64, env string) *deploytrackerv1.WatchDeploymentsResponse {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Change{Change: &deploytrackerv1.DeploymentChange{
		Revision: rev, Type: deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED, DeploymentId: "dep-" + env, Deployment: deployment(env)}}}
}

func dDelete(rev uint64, env string) *deploytrackerv1.WatchDeploymentsResponse {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Change{Change: &deploytrackerv1.DeploymentChange{
		Revision: rev, Type: deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DELETED, DeploymentId: "dep-" + env}}}
}

// deployment is a deployment of acme/shop served at env, with id "dep-"+env.
func deployment(env string) *deploytrackerv1.Deployment {
	return &deploytrackerv1.Deployment{Id: "dep-" + env, Account: "acme", Project: "shop", Environment: env, EnvironmentType: "production",
		Generation: 1, Routes: []*deploytrackerv1.Route{{Path: "/api/*", Handler: "UrlForwardHandler", BaseUrl: "https://127.0.0.1:9443"}}}
}
