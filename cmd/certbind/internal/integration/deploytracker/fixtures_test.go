package deploytracker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// callCtx bounds one call, so that a hung server fails the test instead of
// the whole run.
func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// certSpec is a certificate to upload to certmgr.
type certSpec struct {
	account, project, name string
	types                  []string
	ca                     bool
}

// createCert uploads a certificate made on the spot and returns its id.
func (p *pair) createCert(t *testing.T, c certSpec) string {
	t.Helper()
	req := &certmgrv1.CreateCertificateRequest{Account: c.account, Project: c.project, Name: c.name, EnvironmentTypes: c.types, Ca: c.ca}
	if c.ca {
		req.CertificatePem = string(testpki.NewCA(t, c.name+" CA").CertPEM)
	} else {
		leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: c.name})
		req.CertificatePem, req.PrivateKeyPem = string(leaf.CertPEM), string(leaf.KeyPEM)
	}
	resp, err := p.certs.CreateCertificate(callCtx(t), req)
	if err != nil {
		t.Fatalf("create certificate %s: %v", c.name, err)
	}
	return resp.GetCertificate().GetId()
}

// apiKey issues a key for account with role ("" for an account key).
func (p *pair) apiKey(t *testing.T, account, role string) string {
	t.Helper()
	resp, err := p.keys.CreateApiKey(callCtx(t), &certmgrv1.CreateApiKeyRequest{Account: account, Role: role})
	if err != nil {
		t.Fatalf("create %q key for %s: %v", role, account, err)
	}
	return resp.GetKey()
}

// gw parses a gateway.json text into the request's Struct.
func gw(t *testing.T, js string) *structpb.Struct {
	t.Helper()
	var s structpb.Struct
	if err := protojson.Unmarshal([]byte(js), &s); err != nil {
		t.Fatalf("test gateway config %s: %v", js, err)
	}
	return &s
}

// forward is a one-route config forwarding /api/* with the given
// certificate options (either may be empty).
func forward(t *testing.T, mtls, ca string) *structpb.Struct {
	t.Helper()
	opts := `"baseUrl": "https://127.0.0.1:9443"`
	if mtls != "" {
		opts += fmt.Sprintf(`, "mtlsCertificate": %q`, mtls)
	}
	if ca != "" {
		opts += fmt.Sprintf(`, "caCertificate": %q`, ca)
	}
	return gw(t, `{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler", "options": {`+opts+`}}}]}`)
}

// deploy deploys and fails the test on error.
func (p *pair) deploy(t *testing.T, req *deploytrackerv1.DeployRequest) *deploytrackerv1.Deployment {
	t.Helper()
	resp, err := p.deploys.Deploy(callCtx(t), req)
	if err != nil {
		t.Fatalf("deploy %s/%s/%s: %v", req.GetAccount(), req.GetProject(), req.GetEnvironment(), err)
	}
	return resp.GetDeployment()
}

func (p *pair) revision(t *testing.T) uint64 {
	t.Helper()
	rev, err := p.dt.Revision()
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// watcher reads one WatchDeployments stream in the background.
type watcher struct {
	events chan *deploytrackerv1.WatchDeploymentsResponse
	done   chan error
	cancel context.CancelFunc
}

// watch opens a WatchDeployments stream on the deploytracker with key.
func (p *pair) watch(t *testing.T, key string, req *deploytrackerv1.WatchDeploymentsRequest) *watcher {
	t.Helper()
	client := deploytrackerv1.NewDeploymentDistributionServiceClient(p.dialDeploytracker(t, key))
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{events: make(chan *deploytrackerv1.WatchDeploymentsResponse, 1024), done: make(chan error, 1), cancel: cancel}
	stream, err := client.WatchDeployments(ctx, req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		for {
			ev, err := stream.Recv()
			if err != nil {
				w.done <- err
				return
			}
			w.events <- ev
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *watcher) close() { w.cancel() }

const eventTimeout = 5 * time.Second

// next returns the next event, heartbeats included.
func (w *watcher) next(t *testing.T) *deploytrackerv1.WatchDeploymentsResponse {
	t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case err := <-w.done:
		t.Fatalf("the stream ended while an event was expected: %v", err)
	case <-time.After(eventTimeout):
		t.Fatalf("no event within %v", eventTimeout)
	}
	return nil
}

// nextEvent returns the next event that is not a heartbeat.
func (w *watcher) nextEvent(t *testing.T) *deploytrackerv1.WatchDeploymentsResponse {
	t.Helper()
	for {
		if ev := w.next(t); ev.GetHeartbeat() == nil {
			return ev
		}
	}
}

// nextChange returns the next event and fails unless it is a change.
func (w *watcher) nextChange(t *testing.T) *deploytrackerv1.DeploymentChange {
	t.Helper()
	ev := w.nextEvent(t)
	if ev.GetChange() == nil {
		t.Fatalf("got %v, want a change", ev)
	}
	return ev.GetChange()
}

// snapshot reads a resync, the snapshot items and the completion, and
// returns the resync, the items and the snapshot's revision.
func (w *watcher) snapshot(t *testing.T) (*deploytrackerv1.DeploymentResync, []*deploytrackerv1.Deployment, uint64) {
	t.Helper()
	first := w.nextEvent(t)
	if first.GetResync() == nil {
		t.Fatalf("stream starts with %v, want a resync", first)
	}
	var items []*deploytrackerv1.Deployment
	for {
		ev := w.nextEvent(t)
		switch {
		case ev.GetSnapshotItem() != nil:
			items = append(items, ev.GetSnapshotItem())
		case ev.GetSnapshotComplete() != nil:
			return first.GetResync(), items, ev.GetSnapshotComplete().GetRevision()
		default:
			t.Fatalf("inside the snapshot got %v", ev)
		}
	}
}

// refused waits for the stream to end and checks its status code.
func (w *watcher) refused(t *testing.T, code codes.Code) {
	t.Helper()
	select {
	case err := <-w.done:
		if status.Code(err) != code {
			t.Fatalf("stream ended with %v, want %v", err, code)
		}
	case ev := <-w.events:
		t.Fatalf("got %v, want the stream refused with %v", ev, code)
	case <-time.After(eventTimeout):
		t.Fatalf("the stream was not refused within %v", eventTimeout)
	}
}

// quiet checks that no event other than heartbeats arrives for d.
func (w *watcher) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev := <-w.events:
			if ev.GetHeartbeat() == nil {
				t.Fatalf("unexpected event %v", ev)
			}
		case err := <-w.done:
			t.Fatalf("the stream ended: %v", err)
		case <-deadline:
			return
		}
	}
}
