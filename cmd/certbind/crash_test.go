package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// TestCrashMidProtocol runs deploys and deletes of the same certificates
// against certmgr and the deploytracker as separate processes, kills each
// with SIGKILL in the middle of that traffic, restarts it, and checks that
// no deployment references a deleted certificate and that the interrupted
// protocol steps were finished: no certificate stays "deleting" and no
// deploy stays in progress.
func TestCrashMidProtocol(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	c.restartCertmgrWith("--resume-interval", "200ms")
	certs := certmgrv1.NewCertificateServiceClient(c.grpc(c.certmgrAddr))
	deploys := deploytrackerv1.NewDeploymentServiceClient(c.grpc(c.trackerAddr))
	ctx := c.admin()
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "client"})

	const n = 30
	ids := make([]string, n)
	for i := range n {
		r, err := certs.CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: fmt.Sprintf("cert%d", i),
			EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = r.GetCertificate().GetId()
	}
	var ops, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.IntN(n)
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				var err error
				if rng.IntN(2) == 0 {
					cfg, _ := structpb.NewStruct(map[string]any{"routes": []any{map[string]any{"path": "/api/*", "handler": map[string]any{
						"export": "UrlForwardHandler", "options": map[string]any{"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": fmt.Sprintf("cert%d", i)}}}}})
					_, err = deploys.Deploy(cctx, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop",
						Environment: fmt.Sprintf("env%d", rng.IntN(6)), EnvironmentType: "production", Config: cfg})
				} else {
					_, err = certs.DeleteCertificate(cctx, &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: ids[i]})
				}
				cancel()
				ops.Add(1)
				if err != nil {
					failures.Add(1)
				}
			}
		})
	}
	time.Sleep(700 * time.Millisecond)
	c.kill9("certmgr")
	time.Sleep(200 * time.Millisecond)
	c.restartCertmgrWith("--resume-interval", "200ms")
	time.Sleep(700 * time.Millisecond)
	c.kill9("deploytracker")
	time.Sleep(200 * time.Millisecond)
	c.start("deploytracker")
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d operations, %d refused or failed (crashes, references, lost races)", ops.Load(), failures.Load())

	// Interrupted deletes are finished by certmgr's resume loop, and a deploy
	// whose client gave up may still be completing on the server: wait for
	// both to settle, then check.
	deadline := time.Now().Add(20 * time.Second)
	vctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	existing := map[string]bool{}
	for {
		// The test's own connections may still be reconnecting after the
		// restarts: these calls wait for them rather than fail fast.
		list, err := certs.ListCertificates(vctx, &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatal(err)
		}
		unsettled := 0
		clear(existing)
		for _, c := range list.GetCertificates() {
			existing[c.GetId()] = true
			if c.GetState() == "deleting" {
				unsettled++
			}
			refs, err := certs.ListCertificateReferences(vctx, &certmgrv1.ListCertificateReferencesRequest{Account: "acme", Project: "shop", Id: c.GetId()}, grpc.WaitForReady(true))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range refs.GetReferences() {
				if r.GetInProgress() {
					unsettled++
				}
			}
		}
		if unsettled == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d certificates still deleting or deploys still in progress long after the restarts", unsettled)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The invariant, from both stores.
	deps, err := deploys.ListDeployments(vctx, &deploytrackerv1.ListDeploymentsRequest{Account: "acme", Project: "shop"}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.GetDeployments() {
		for _, r := range d.GetReferences() {
			if !existing[r.GetCertificateId()] {
				t.Fatalf("deployment %s (%s) references %s, which was deleted", d.GetId(), d.GetEnvironment(), r.GetCertificateName())
			}
		}
	}
	t.Logf("after the crashes: %d deployments, %d of %d certificates left", len(deps.GetDeployments()), len(existing), n)
}
