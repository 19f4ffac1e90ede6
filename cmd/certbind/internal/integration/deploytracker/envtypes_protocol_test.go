package deploytracker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// TestDeployRemoveEnvironmentTypeInterleavings races a production deploy
// that uses a certificate against an update that takes production away from
// that certificate, with random timing, over real gRPC between the two
// services. After every round, if the update succeeded, no production
// deployment may reference the certificate; the deploy and the update never
// both succeed.
func TestDeployRemoveEnvironmentTypeInterleavings(t *testing.T) {
	p := startPair(t)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+adminKey)
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "client"})
	rounds := 1000
	if testing.Short() {
		rounds = 200
	}
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	var deployWon, removeWon, bothLost, broken int
	for i := range rounds {
		name := fmt.Sprintf("typed%d", i)
		c, err := p.certs.CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: name,
			EnvironmentTypes: []string{"development", "production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)})
		if err != nil {
			t.Fatal(err)
		}
		id := c.GetCertificate().GetId()
		env := fmt.Sprintf("prod%d", i%8)
		var deployErr, updateErr error
		raceTwo(rng, func() {
			_, deployErr = p.deploys.Deploy(ctx, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: env,
				EnvironmentType: "production", Config: config(t, name), Variables: map[string]string{"CERT": name}})
		}, func() {
			_, updateErr = p.certs.UpdateCertificate(ctx, &certmgrv1.UpdateCertificateRequest{Account: "acme", Project: "shop", Id: id,
				EnvironmentTypes: []string{"development"}})
		})
		switch {
		case deployErr == nil && updateErr == nil:
			broken++
			t.Errorf("round %d: both the production deploy and the removal of production from %s succeeded", i, name)
		case deployErr == nil:
			deployWon++
			if status.Code(updateErr) != codes.FailedPrecondition {
				t.Fatalf("round %d: removal lost with %v, want FailedPrecondition", i, updateErr)
			}
		case updateErr == nil:
			removeWon++
			if c := status.Code(deployErr); c != codes.InvalidArgument && c != codes.FailedPrecondition {
				t.Fatalf("round %d: deploy lost with %v", i, deployErr)
			}
		default:
			bothLost++
		}
		if updateErr == nil {
			if env := p.productionUse(t, ctx, id); env != "" {
				t.Errorf("round %d: %s no longer allows production, but production environment %q references it", i, name, env)
			}
		}
	}
	t.Logf("%d rounds: deploy won %d, removal won %d, both refused %d, both succeeded %d", rounds, deployWon, removeWon, bothLost, broken)
	if deployWon == 0 || removeWon == 0 {
		t.Fatalf("the race never went both ways (deploy %d, removal %d): the test does not exercise the protocol", deployWon, removeWon)
	}
}

// productionUse returns the environment of a production deployment that
// references the certificate, or "".
func (p *pair) productionUse(t *testing.T, ctx context.Context, id string) string {
	t.Helper()
	list, err := p.deploys.ListDeployments(ctx, &deploytrackerv1.ListDeploymentsRequest{Account: "acme", Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range list.GetDeployments() {
		if d.GetEnvironmentType() != "production" {
			continue
		}
		for _, r := range d.GetReferences() {
			if r.GetCertificateId() == id {
				return d.GetEnvironment()
			}
		}
	}
	return ""
}
