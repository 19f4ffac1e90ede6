package deploytracker_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/certbind/certbind/internal/changefeed"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

const (
	deployed = deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED
	deleted  = deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DELETED
)

// plain is a config without certificates, for tests about the stream
// rather than about certificates.
func plain(t *testing.T) *structpb.Struct { return forward(t, "", "") }

func req(account, project, env, envType string, cfg *structpb.Struct) *deploytrackerv1.DeployRequest {
	return &deploytrackerv1.DeployRequest{Account: account, Project: project, Environment: env, EnvironmentType: envType, Config: cfg}
}

// wantChange checks a change's revision, type and deployment id.
func wantChange(t *testing.T, c *deploytrackerv1.DeploymentChange, rev uint64, typ deploytrackerv1.DeploymentChangeType, id string) {
	t.Helper()
	if c.GetRevision() != rev || c.GetType() != typ || c.GetDeploymentId() != id {
		t.Fatalf("change = revision %d %v %s, want revision %d %v %s", c.GetRevision(), c.GetType(), c.GetDeploymentId(), rev, typ, id)
	}
	if typ == deleted && c.GetDeployment() != nil {
		t.Errorf("a DELETED change carries a deployment: %v", c.GetDeployment())
	}
	if typ == deployed && c.GetDeployment().GetId() != id {
		t.Errorf("a DEPLOYED change carries deployment %q, want %q", c.GetDeployment().GetId(), id)
	}
}

func TestWatchFromZeroThenLive(t *testing.T) {
	p := startPair(t)
	certID := p.createCert(t, certSpec{"acme", "shop", "myBackendCert", []string{"development", "production"}, false})
	caID := p.createCert(t, certSpec{"acme", "shop", "backendCa", []string{"development", "production"}, true})
	prod := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "production", EnvironmentType: "production",
		Config: forward(t, "$env(BACKEND_MTLS_CERT)", "backendCa"), Variables: map[string]string{"BACKEND_MTLS_CERT": "myBackendCert"}})

	w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{})
	resync, items, rev := w.snapshot(t)
	if resync.GetRequestedRevision() != 0 || resync.GetReason() == "" {
		t.Errorf("resync = %v, want one for revision 0 with a reason", resync)
	}
	if len(items) != 1 || !proto.Equal(items[0], prod) {
		t.Fatalf("snapshot = %v, want exactly the deployed %v", items, prod)
	}
	if head := p.revision(t); rev != head || rev != prod.GetRevision() {
		t.Fatalf("snapshot at revision %d, want the head %d", rev, head)
	}

	// A new deployment arrives with its routes resolved to certificate ids.
	dev := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "dev", EnvironmentType: "development",
		Config: gw(t, `{"routes": [
			{"path": "/users/{id}", "methods": ["GET"], "handler": {"module": "x", "export": "UrlRewriteHandler",
				"options": {"rewritePattern": "https://127.0.0.1:9443/v2/users/${params.id}", "mtlsCertificate": "myBackendCert", "caCertificate": "$env(CA)"}}}]}`),
		Variables: map[string]string{"CA": "backendCa"}})
	c := w.nextChange(t)
	if dev.GetRevision() <= rev {
		t.Fatalf("deploy took revision %d, not after the snapshot's %d", dev.GetRevision(), rev)
	}
	wantChange(t, c, dev.GetRevision(), deployed, dev.GetId())
	if !proto.Equal(c.GetDeployment(), dev) {
		t.Errorf("streamed deployment differs from the deploy's answer:\n%v\n%v", c.GetDeployment(), dev)
	}
	routes := c.GetDeployment().GetRoutes()
	if len(routes) != 1 || routes[0].GetHandler() != "UrlRewriteHandler" || routes[0].GetRewritePattern() != "https://127.0.0.1:9443/v2/users/${params.id}" ||
		routes[0].GetMtlsCertificateId() != certID || routes[0].GetMtlsCertificateName() != "myBackendCert" ||
		routes[0].GetCaCertificateId() != caID || routes[0].GetCaCertificateName() != "backendCa" || strings.Join(routes[0].GetMethods(), ",") != "GET" {
		t.Errorf("routes = %v", routes)
	}
	if !strings.HasSuffix(c.GetDeployment().GetUrl(), "/acme/shop/dev") {
		t.Errorf("url = %q", c.GetDeployment().GetUrl())
	}

	// A redeploy keeps the id; dropping the certificate shows in the routes.
	prod2 := p.deploy(t, req("acme", "shop", "production", "production", plain(t)))
	c = w.nextChange(t)
	if prod2.GetRevision() <= dev.GetRevision() {
		t.Fatalf("redeploy took revision %d, not after %d", prod2.GetRevision(), dev.GetRevision())
	}
	wantChange(t, c, prod2.GetRevision(), deployed, prod.GetId())
	if g := c.GetDeployment().GetGeneration(); g != 2 || c.GetDeployment().GetRoutes()[0].GetMtlsCertificateId() != "" || !proto.Equal(c.GetDeployment(), prod2) {
		t.Errorf("redeploy streamed as %v", c.GetDeployment())
	}

	if _, err := p.deploys.DeleteDeployment(callCtx(t), &deploytrackerv1.DeleteDeploymentRequest{Account: "acme", Project: "shop", Id: dev.GetId()}); err != nil {
		t.Fatal(err)
	}
	head := p.revision(t)
	if head <= prod2.GetRevision() {
		t.Fatalf("delete left the head at %d, not after %d", head, prod2.GetRevision())
	}
	wantChange(t, w.nextChange(t), head, deleted, dev.GetId())
}

func TestWatchEdgeKeysSeeOneAccount(t *testing.T) {
	p := startPair(t)
	globexProd := p.deploy(t, req("globex", "shop", "production", "production", plain(t)))
	acmeProd := p.deploy(t, req("acme", "shop", "production", "production", plain(t)))
	acmeEdge := p.apiKey(t, "acme", "edge")
	globexEdge := p.apiKey(t, "globex", "edge")

	w := p.watch(t, acmeEdge, &deploytrackerv1.WatchDeploymentsRequest{})
	_, items, rev := w.snapshot(t)
	if len(items) != 1 || items[0].GetId() != acmeProd.GetId() {
		t.Fatalf("acme's edge snapshot = %v, want acme's deployment only", items)
	}
	if head := p.revision(t); rev != head {
		t.Fatalf("snapshot at %d, want the head %d", rev, head)
	}
	gwatch := p.watch(t, globexEdge, &deploytrackerv1.WatchDeploymentsRequest{Account: "globex"})
	if _, items, _ := gwatch.snapshot(t); len(items) != 1 || items[0].GetId() != globexProd.GetId() {
		t.Fatalf("globex's edge snapshot = %v, want globex's deployment only", items)
	}

	// globex's changes take revisions 3 and 5; acme's edge sees only 4 and
	// 6, and globex's edge only 3 and 5.
	globexDev := p.deploy(t, req("globex", "shop", "dev", "development", plain(t)))
	acmeDev := p.deploy(t, req("acme", "shop", "dev", "development", plain(t)))
	if _, err := p.deploys.DeleteDeployment(callCtx(t), &deploytrackerv1.DeleteDeploymentRequest{Account: "globex", Project: "shop", Id: globexProd.GetId()}); err != nil {
		t.Fatal(err)
	}
	p.deploy(t, req("acme", "shop", "production", "production", plain(t)))
	wantChange(t, w.nextChange(t), 4, deployed, acmeDev.GetId())
	wantChange(t, w.nextChange(t), 6, deployed, acmeProd.GetId())
	wantChange(t, gwatch.nextChange(t), 3, deployed, globexDev.GetId())
	wantChange(t, gwatch.nextChange(t), 5, deleted, globexProd.GetId())
	w.quiet(t, 100*time.Millisecond)
	gwatch.quiet(t, 100*time.Millisecond)

	// Another account's stream, an account key and no key are refused.
	p.watch(t, acmeEdge, &deploytrackerv1.WatchDeploymentsRequest{Account: "globex"}).refused(t, codes.PermissionDenied)
	p.watch(t, p.apiKey(t, "acme", ""), &deploytrackerv1.WatchDeploymentsRequest{}).refused(t, codes.PermissionDenied)
	p.watch(t, p.apiKey(t, "acme", "account"), &deploytrackerv1.WatchDeploymentsRequest{Account: "acme"}).refused(t, codes.PermissionDenied)
	p.watch(t, "", &deploytrackerv1.WatchDeploymentsRequest{}).refused(t, codes.Unauthenticated)
	// An edge key watches; it does not deploy.
	edgeDeploys := deploytrackerv1.NewDeploymentServiceClient(p.dialDeploytracker(t, acmeEdge))
	if _, err := edgeDeploys.Deploy(callCtx(t), req("acme", "shop", "x", "production", plain(t))); status.Code(err) != codes.PermissionDenied {
		t.Errorf("deploy with an edge key = %v, want PermissionDenied", err)
	}
}

func TestWatchScope(t *testing.T) {
	p := startPair(t)
	dev := p.deploy(t, req("acme", "shop", "dev", "development", plain(t)))
	prod := p.deploy(t, req("acme", "shop", "prod", "production", plain(t)))
	p.deploy(t, req("acme", "other", "dev", "development", plain(t)))
	p.deploy(t, req("globex", "shop", "dev", "development", plain(t)))

	w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{Account: "acme", Project: "shop", EnvironmentType: "development"})
	_, items, rev := w.snapshot(t)
	if head := p.revision(t); len(items) != 1 || items[0].GetId() != dev.GetId() || rev != head {
		t.Fatalf("scoped snapshot = %v at %d, want acme/shop/dev only at the head %d", items, rev, head)
	}
	// An edge key's project scope stays inside its own account.
	edge := p.watch(t, p.apiKey(t, "acme", "edge"), &deploytrackerv1.WatchDeploymentsRequest{Project: "shop", EnvironmentType: "production"})
	if _, items, _ := edge.snapshot(t); len(items) != 1 || items[0].GetId() != prod.GetId() {
		t.Fatalf("edge scoped snapshot = %v, want acme/shop/prod only", items)
	}

	// dev moves to production: gone for the development scope, new for
	// the production one.
	p.deploy(t, req("acme", "shop", "dev", "production", plain(t)))
	wantChange(t, w.nextChange(t), 5, deleted, dev.GetId())
	wantChange(t, edge.nextChange(t), 5, deployed, dev.GetId())
	// Outside both scopes.
	p.deploy(t, req("acme", "other", "dev", "development", plain(t)))
	p.deploy(t, req("globex", "shop", "prod", "production", plain(t)))
	// prod moves to development: the reverse.
	p.deploy(t, req("acme", "shop", "prod", "development", plain(t)))
	c := w.nextChange(t)
	wantChange(t, c, 8, deployed, prod.GetId())
	if c.GetDeployment().GetEnvironmentType() != "development" {
		t.Errorf("moved deployment has type %q", c.GetDeployment().GetEnvironmentType())
	}
	wantChange(t, edge.nextChange(t), 8, deleted, prod.GetId())
	w.quiet(t, 100*time.Millisecond)
	edge.quiet(t, 100*time.Millisecond)

	p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{Project: "shop"}).refused(t, codes.InvalidArgument)
	p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{EnvironmentType: "prod"}).refused(t, codes.InvalidArgument)
}

func TestWatchResumesAcrossRestart(t *testing.T) {
	p := startPair(t)
	a := p.deploy(t, req("acme", "shop", "a", "production", plain(t)))
	p.deploy(t, req("acme", "shop", "b", "production", plain(t)))

	w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{})
	if _, _, rev := w.snapshot(t); rev != p.revision(t) {
		t.Fatalf("snapshot at %d, want the head %d", rev, p.revision(t))
	}
	c := p.deploy(t, req("acme", "shop", "c", "production", plain(t)))
	wantChange(t, w.nextChange(t), c.GetRevision(), deployed, c.GetId())
	w.close()

	// Missed: one change before the restart, two after it.
	d := p.deploy(t, req("acme", "shop", "d", "production", plain(t)))
	p.restartDeploytracker(t)
	e := p.deploy(t, req("acme", "shop", "e", "production", plain(t)))
	if _, err := p.deploys.DeleteDeployment(callCtx(t), &deploytrackerv1.DeleteDeploymentRequest{Account: "acme", Project: "shop", Id: a.GetId()}); err != nil {
		t.Fatal(err)
	}

	deletedAt := p.revision(t)
	if d.GetRevision() <= c.GetRevision() || e.GetRevision() <= d.GetRevision() || deletedAt <= e.GetRevision() {
		t.Fatalf("revisions c %d, d %d, e %d, delete %d do not increase", c.GetRevision(), d.GetRevision(), e.GetRevision(), deletedAt)
	}
	w = p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{FromRevision: c.GetRevision(), Epoch: p.epoch(t)})
	wantChange(t, w.nextChange(t), d.GetRevision(), deployed, d.GetId())
	wantChange(t, w.nextChange(t), e.GetRevision(), deployed, e.GetId())
	wantChange(t, w.nextChange(t), deletedAt, deleted, a.GetId())
	// Then live, with nothing in between.
	f := p.deploy(t, req("acme", "shop", "f", "production", plain(t)))
	wantChange(t, w.nextChange(t), f.GetRevision(), deployed, f.GetId())
}

func TestWatchOlderThanRetention(t *testing.T) {
	p := startPairWith(t, pairOptions{retention: 3})
	for _, env := range []string{"a", "b", "c", "a", "b", "c"} {
		p.deploy(t, req("acme", "shop", env, "production", plain(t)))
	}
	// Revisions 1..6 were written; 4..6 are retained.
	for _, tc := range []struct {
		from   uint64
		reason []string
	}{
		{1, []string{"revision 1", "oldest 4"}},
		{2, []string{"revision 2", "oldest 4"}},
		{99, []string{"revision 99", "head 6"}},
	} {
		w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{FromRevision: tc.from, Epoch: p.epoch(t)})
		resync, items, rev := w.snapshot(t)
		if resync.GetRequestedRevision() != tc.from || resync.GetOldestRetainedRevision() != 4 {
			t.Errorf("from %d: resync = %v, want requested %d, oldest 4", tc.from, resync, tc.from)
		}
		for _, s := range tc.reason {
			if !strings.Contains(resync.GetReason(), s) {
				t.Errorf("from %d: resync reason %q does not say %q", tc.from, resync.GetReason(), s)
			}
		}
		if len(items) != 3 || rev != 6 {
			t.Errorf("from %d: snapshot of %d deployments at %d, want 3 at 6", tc.from, len(items), rev)
		}
		w.close()
	}

	// From the revision just before the oldest retained one: no resync.
	w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{FromRevision: 3, Epoch: p.epoch(t)})
	for rev := uint64(4); rev <= 6; rev++ {
		if c := w.nextChange(t); c.GetRevision() != rev {
			t.Fatalf("got revision %d, want %d", c.GetRevision(), rev)
		}
	}
	d := p.deploy(t, req("acme", "shop", "d", "production", plain(t)))
	wantChange(t, w.nextChange(t), 7, deployed, d.GetId())
}

func TestWatchHeartbeatsWhenIdle(t *testing.T) {
	p := startPairWith(t, pairOptions{stream: changefeed.Options{Heartbeat: 30 * time.Millisecond}})
	a := p.deploy(t, req("acme", "shop", "a", "production", plain(t)))

	w := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{FromRevision: a.GetRevision(), Epoch: p.epoch(t)})
	for range 3 {
		ev := w.next(t)
		if ev.GetHeartbeat() == nil || ev.GetHeartbeat().GetRevision() != a.GetRevision() {
			t.Fatalf("idle stream sent %v, want a heartbeat at revision %d", ev, a.GetRevision())
		}
	}
	b := p.deploy(t, req("acme", "shop", "b", "production", plain(t)))
	wantChange(t, w.nextChange(t), b.GetRevision(), deployed, b.GetId())
	ev := w.next(t)
	if ev.GetHeartbeat().GetRevision() != b.GetRevision() {
		t.Fatalf("after revision %d the stream sent %v, want a heartbeat at it", b.GetRevision(), ev)
	}
}

// TestWatchLimitedEdgeKey: an edge key limited to a project and
// environment types (its limits reach the deploytracker through certmgr's
// key check) sees only those deployments.
func TestWatchLimitedEdgeKey(t *testing.T) {
	p := startPair(t)
	p.deploy(t, req("acme", "shop", "dev", "development", plain(t)))
	p.deploy(t, req("acme", "web", "production", "production", plain(t)))
	shopProd := p.deploy(t, req("acme", "shop", "production", "production", plain(t)))
	resp, err := p.keys.CreateApiKey(callCtx(t), &certmgrv1.CreateApiKeyRequest{Account: "acme", Role: "edge", Project: "shop", EnvironmentTypes: []string{"production"}})
	if err != nil {
		t.Fatal(err)
	}
	w := p.watch(t, resp.GetKey(), &deploytrackerv1.WatchDeploymentsRequest{})
	if _, items, _ := w.snapshot(t); len(items) != 1 || items[0].GetId() != shopProd.GetId() {
		t.Fatalf("limited key's snapshot = %v, want shop's production deployment only", items)
	}
	p.deploy(t, req("acme", "shop", "pr-1", "preview", plain(t)))
	pr2 := p.deploy(t, req("acme", "shop", "prod-2", "production", plain(t)))
	if c := w.nextChange(t); c.GetDeploymentId() != pr2.GetId() {
		t.Fatalf("limited key got %v, want prod-2", c)
	}
	p.watch(t, resp.GetKey(), &deploytrackerv1.WatchDeploymentsRequest{Account: "acme", Project: "web"}).refused(t, codes.PermissionDenied)
	p.watch(t, resp.GetKey(), &deploytrackerv1.WatchDeploymentsRequest{EnvironmentType: "preview"}).refused(t, codes.PermissionDenied)
}
