package deploytracker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/deployrefs"
	"github.com/certbind/certbind/services/deploytracker"
)

const (
	adminKey   = "admin-key-0123456789abcdef0123456789abcdef"
	serviceKey = "service-key"
)

// pair is certmgr and a deploytracker, each on its own loopback gRPC
// server, calling each other as separate processes would.
type pair struct {
	certs   certmgrv1.CertificateServiceClient
	deploys deploytrackerv1.DeploymentServiceClient
	intern  certmgrv1.InternalServiceClient
	// keys is certmgr's ApiKeyService with the admin key.
	keys certmgrv1.ApiKeyServiceClient

	// The running deploytracker, replaced by restartDeploytracker.
	dt     *deploytracker.Service
	dtSrv  *grpc.Server
	dtAddr string
	dtCfg  deploytracker.Config
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func dial(t *testing.T, addr string, key string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: key}))
	}
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pairOptions tune startPairWith; the zero value gives startPair's pair.
type pairOptions struct {
	// retention and stream go to deploytracker.Config.
	retention int
	stream    changefeed.Options
}

func startPair(t *testing.T) *pair {
	t.Helper()
	return startPairWith(t, pairOptions{})
}

func startPairWith(t *testing.T, o pairOptions) *pair {
	t.Helper()
	dir := t.TempDir()
	cmLis, dtLis := listen(t), listen(t)
	cm, err := certmgr.New(certmgr.Config{
		DataDir: filepath.Join(dir, "certmgr"), MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true,
		AdminKey: adminKey, ServiceKey: serviceKey, References: deployrefs.New(dial(t, dtLis.Addr().String(), serviceKey)),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{dtAddr: dtLis.Addr().String()}
	p.dtCfg = deploytracker.Config{DataDir: filepath.Join(dir, "deploytracker"),
		Certmgr: dial(t, cmLis.Addr().String(), serviceKey), ServiceKey: serviceKey,
		Retention: o.retention, Stream: o.stream}
	p.dt, err = deploytracker.New(p.dtCfg)
	if err != nil {
		t.Fatal(err)
	}
	cmSrv := cm.NewGRPCServer()
	p.dtSrv = p.dt.NewGRPCServer()
	go cmSrv.Serve(cmLis)
	go p.dtSrv.Serve(dtLis)
	t.Cleanup(func() {
		cmSrv.Stop()
		p.dtSrv.Stop()
		p.dt.Close()
		cm.Close()
	})
	cmConn := dial(t, cmLis.Addr().String(), adminKey)
	p.certs = certmgrv1.NewCertificateServiceClient(cmConn)
	p.keys = certmgrv1.NewApiKeyServiceClient(cmConn)
	p.deploys = deploytrackerv1.NewDeploymentServiceClient(dial(t, p.dtAddr, adminKey))
	p.intern = certmgrv1.NewInternalServiceClient(dial(t, cmLis.Addr().String(), serviceKey))
	return p
}

// restartDeploytracker stops the deploytracker and opens it again on the
// same data dir and address, as a process restart would.
func (p *pair) restartDeploytracker(t *testing.T) {
	t.Helper()
	p.stopDeploytracker(t)
	p.startDeploytracker(t)
}

// stopDeploytracker stops the deploytracker's server and closes its store,
// leaving the data dir to the test until startDeploytracker.
func (p *pair) stopDeploytracker(t *testing.T) {
	t.Helper()
	p.dtSrv.Stop()
	if err := p.dt.Close(); err != nil {
		t.Fatal(err)
	}
}

// startDeploytracker opens the deploytracker again on its data dir and
// address. p.deploys is dialled afresh so that no call waits out the old
// connection's reconnect backoff.
func (p *pair) startDeploytracker(t *testing.T) {
	t.Helper()
	dt, err := deploytracker.New(p.dtCfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", p.dtAddr)
	if err != nil {
		dt.Close()
		t.Fatal(err)
	}
	p.dt, p.dtSrv = dt, dt.NewGRPCServer()
	go p.dtSrv.Serve(lis)
	p.deploys = deploytrackerv1.NewDeploymentServiceClient(dial(t, p.dtAddr, adminKey))
}

// dialDeploytracker returns a connection to the deploytracker that sends key.
func (p *pair) dialDeploytracker(t *testing.T, key string) *grpc.ClientConn {
	t.Helper()
	return dial(t, p.dtAddr, key)
}

func config(t *testing.T, certName string) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(map[string]any{"routes": []any{map[string]any{
		"path":    "/api/*",
		"handler": map[string]any{"export": "UrlForwardHandler", "options": map[string]any{"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "$env(CERT)"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkInvariant asserts, from both stores, that every certificate any
// deployment references exists, i.e. that no referenced certificate was
// deleted and no deployment references a deleted one.
func (p *pair) checkInvariant(t *testing.T, ctx context.Context) {
	t.Helper()
	list, err := p.deploys.ListDeployments(ctx, &deploytrackerv1.ListDeploymentsRequest{Account: "acme", Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range list.GetDeployments() {
		for _, r := range d.GetReferences() {
			ids = append(ids, r.GetCertificateId())
		}
	}
	found, err := p.intern.ResolveCertificates(context.Background(), &certmgrv1.ResolveCertificatesRequest{Account: "acme", Project: "shop", Ids: ids})
	if err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, c := range found.GetCertificates() {
		exists[c.GetId()] = true
	}
	for _, id := range ids {
		if !exists[id] {
			t.Fatalf("a deployment references certificate %s, which was deleted", id)
		}
	}
}

// TestDeployDeleteInterleavings races a deploy that uses a certificate
// against the delete of that certificate, 1000 times with random timing,
// over real gRPC between the two services, and checks the invariant after
// every round: exactly one of them may win, and no deployment ever points at
// a deleted certificate.
func TestDeployDeleteInterleavings(t *testing.T) {
	p := startPair(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminKey)
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "client"})
	rounds := 1000
	if testing.Short() {
		rounds = 200
	}
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var deployWon, deleteWon, bothLost int
	for i := range rounds {
		name := fmt.Sprintf("cert%d", i)
		c, err := p.certs.CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: name,
			EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)})
		if err != nil {
			t.Fatal(err)
		}
		id := c.GetCertificate().GetId()
		// Environments are reused, so each deploy also drops the previous
		// round's reference in that environment.
		env := fmt.Sprintf("env%d", i%8)
		var deployErr, deleteErr error
		raceTwo(rng, func() {
			_, deployErr = p.deploys.Deploy(ctx, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: env,
				EnvironmentType: "production", Config: config(t, name), Variables: map[string]string{"CERT": name}})
		}, func() {
			_, deleteErr = p.certs.DeleteCertificate(ctx, &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: id})
		})
		switch {
		case deployErr == nil && deleteErr == nil:
			t.Fatalf("round %d: both the deploy and the delete of %s succeeded", i, name)
		case deployErr == nil:
			deployWon++
			if status.Code(deleteErr) != codes.FailedPrecondition {
				t.Fatalf("round %d: delete lost with %v, want FailedPrecondition", i, deleteErr)
			}
		case deleteErr == nil:
			deleteWon++
			if c := status.Code(deployErr); c != codes.InvalidArgument && c != codes.FailedPrecondition {
				t.Fatalf("round %d: deploy lost with %v", i, deployErr)
			}
		default:
			// Both refused: the delete saw the in-progress deploy, the
			// deploy then saw "deleting". Safe, and the user retries.
			bothLost++
		}
		p.checkInvariant(t, ctx)
	}
	t.Logf("%d rounds: deploy won %d, delete won %d, both refused %d", rounds, deployWon, deleteWon, bothLost)
	if deployWon == 0 || deleteWon == 0 {
		t.Fatalf("the race never went both ways (deploy %d, delete %d): the test does not exercise the protocol", deployWon, deleteWon)
	}
}

// raceTwo runs a and b at once, each, half the time, after a random delay of
// up to 400 µs, so that over many rounds every interleaving of their steps
// comes up. The delays are drawn before either starts: a rand.Rand is not
// safe for concurrent use.
func raceTwo(rng *rand.Rand, a, b func()) {
	var delays [2]time.Duration
	for i := range delays {
		if rng.IntN(2) == 0 {
			delays[i] = time.Duration(rng.IntN(400)) * time.Microsecond
		}
	}
	var wg sync.WaitGroup
	for i, f := range []func(){a, b} {
		wg.Go(func() {
			time.Sleep(delays[i])
			f()
		})
	}
	wg.Wait()
}
