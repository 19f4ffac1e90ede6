package deploy_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/deploytracker/deploy"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// certmgr is deploy.Certificates over certificates held in memory. Before
// answering call n (0-based) it runs before[n], so a test can change a
// certificate between the deploy's first look and its re-check.
type certmgr struct {
	mu     sync.Mutex
	certs  map[string]*certmgrv1.Certificate // by id
	before map[int]func()
	calls  int
	err    map[int]error
}

func newCertmgr(certs ...*certmgrv1.Certificate) *certmgr {
	m := &certmgr{certs: map[string]*certmgrv1.Certificate{}, before: map[int]func(){}, err: map[int]error{}}
	for _, c := range certs {
		m.certs[c.GetId()] = c
	}
	return m
}

func (m *certmgr) Resolve(_ context.Context, account, project string, names, ids []string) ([]*certmgrv1.Certificate, error) {
	m.mu.Lock()
	n := m.calls
	m.calls++
	hook, err := m.before[n], m.err[n]
	m.mu.Unlock()
	if hook != nil {
		hook()
	}
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*certmgrv1.Certificate
	for _, c := range m.certs {
		if c.GetAccount() == account && c.GetProject() == project && (slices.Contains(names, c.GetName()) || slices.Contains(ids, c.GetId())) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *certmgr) set(id string, edit func(c *certmgrv1.Certificate)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if edit == nil {
		delete(m.certs, id)
		return
	}
	edit(m.certs[id])
}

func (m *certmgr) callCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

func clientCert(id, name string, types ...string) *certmgrv1.Certificate {
	return &certmgrv1.Certificate{Id: id, Name: name, Account: "acme", Project: "shop", State: "active", Kind: "client", EnvironmentTypes: types}
}

func newTracker(t *testing.T, certs deploy.Certificates) (*deploy.Tracker, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "deploytracker.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	return deploy.New(deploy.Config{Store: st, Certs: certs, Now: func() time.Time { return now }}), st
}

const gatewayJSON = `{"routes": [
	{"path": "/api/*", "handler": {"export": "UrlForwardHandler", "options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "$env(CERT)"}}},
	{"path": "/users/{id}", "handler": {"export": "UrlRewriteHandler", "options": {"rewritePattern": "https://127.0.0.1:9443/v2/users/${params.id}", "mtlsCertificate": "myBackendCert"}}}
]}`

func input(env string) deploy.Input {
	return deploy.Input{Account: "acme", Project: "shop", Environment: env, EnvironmentType: "production",
		Config: []byte(gatewayJSON), Variables: map[string]string{"CERT": "rotatedCert"}}
}

// assertNothingRecorded checks that a failed deploy left no deployment, no
// change and no in-progress reference behind.
func assertNothingRecorded(t *testing.T, tr *deploy.Tracker, st *store.Store, certIDs ...string) {
	t.Helper()
	if rev, err := st.Revision(); err != nil || rev != 0 {
		t.Errorf("revision = %d, %v after a failed deploy; want 0", rev, err)
	}
	if list, err := tr.List("acme", "shop", ""); err != nil || len(list) != 0 {
		t.Errorf("deployments after a failed deploy: %v, %v", list, err)
	}
	for _, id := range certIDs {
		if uses, err := tr.References("acme", "shop", id); err != nil || len(uses) != 0 {
			t.Errorf("references of %s after a failed deploy: %+v, %v", id, uses, err)
		}
	}
}

func TestDeployResolvesNamesToIDs(t *testing.T) {
	certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
	tr, st := newTracker(t, certs)
	d, err := tr.Deploy(context.Background(), "test", input("prod"))
	if err != nil {
		t.Fatal(err)
	}
	if head, err := st.Revision(); err != nil || d.Revision == 0 || d.Revision != head {
		t.Errorf("deployment at revision %d, want the head %d (%v)", d.Revision, head, err)
	}
	if d.Generation != 1 || !strings.HasPrefix(d.ID, "dep_") {
		t.Errorf("deployment = id %q generation %d revision %d", d.ID, d.Generation, d.Revision)
	}
	if len(d.Routes) != 2 || d.Routes[0].MTLSCertificateID != "crt_1" || d.Routes[0].MTLSCertificateName != "rotatedCert" ||
		d.Routes[1].MTLSCertificateID != "crt_2" || d.Routes[1].RewritePattern == "" {
		t.Errorf("routes = %+v", d.Routes)
	}
	if len(d.References) != 2 || d.References[0].CertificateID != "crt_1" || d.References[0].RoutePath != "/api/*" || d.References[0].Option != "mtlsCertificate" {
		t.Errorf("references = %+v", d.References)
	}
	// One look by name, one re-check by id.
	if n := certs.callCount(); n != 2 {
		t.Errorf("certmgr asked %d times, want 2", n)
	}
	if uses, _ := st.References("acme", "shop", "crt_1"); len(uses) != 1 || uses[0].InProgress || uses[0].DeploymentID != d.ID {
		t.Errorf("after the deploy, uses of crt_1 = %+v", uses)
	}
}

func TestDeployWithoutCertificatesAsksNothing(t *testing.T) {
	certs := newCertmgr()
	certs.err[0] = errors.New("certmgr must not be asked")
	tr, _ := newTracker(t, certs)
	in := input("dev")
	in.Config = []byte(`{"routes": [{"path": "/", "handler": {"export": "UrlForwardHandler", "options": {"baseUrl": "https://b.example"}}}]}`)
	if _, err := tr.Deploy(context.Background(), "test", in); err != nil {
		t.Fatal(err)
	}
	if n := certs.callCount(); n != 0 {
		t.Errorf("certmgr asked %d times for a config without certificates", n)
	}
}

// TestIntentIsVisibleDuringTheRecheck is the deploy half of the delete
// protocol: when the deploy asks certmgr the second time, its references
// are already durable as in progress, so a delete that begins now sees them.
func TestIntentIsVisibleDuringTheRecheck(t *testing.T) {
	certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
	tr, st := newTracker(t, certs)
	var during []store.Use
	certs.before[1] = func() {
		for _, id := range []string{"crt_1", "crt_2"} {
			uses, err := st.References("acme", "shop", id)
			if err != nil {
				t.Error(err)
			}
			during = append(during, uses...)
		}
	}
	if _, err := tr.Deploy(context.Background(), "test", input("prod")); err != nil {
		t.Fatal(err)
	}
	if len(during) != 2 || !during[0].InProgress || !during[1].InProgress || during[0].Environment != "prod" || during[0].EnvironmentType != "production" {
		t.Errorf("uses seen during the re-check = %+v, want both certificates in progress for prod", during)
	}
}

func TestCertificateChangedDuringDeploy(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *certmgr)
		want   string
	}{
		{"deleted", func(m *certmgr) { m.set("crt_1", nil) }, `no certificate named "rotatedCert"`},
		{"delete began", func(m *certmgr) { m.set("crt_1", func(c *certmgrv1.Certificate) { c.State = "deleting" }) }, "being deleted"},
		{"disabled", func(m *certmgr) { m.set("crt_2", func(c *certmgrv1.Certificate) { c.State = "disabled" }) }, `"myBackendCert" is disabled`},
		{"renamed", func(m *certmgr) { m.set("crt_1", func(c *certmgrv1.Certificate) { c.Name = "otherName" }) }, `no certificate named "rotatedCert"`},
		{"type taken away", func(m *certmgr) {
			m.set("crt_2", func(c *certmgrv1.Certificate) { c.EnvironmentTypes = []string{"development"} })
		}, "not allowed in production"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
			certs.before[1] = func() { tt.change(certs) }
			tr, st := newTracker(t, certs)
			_, err := tr.Deploy(context.Background(), "test", input("prod"))
			if !errors.Is(err, deploy.ErrChanged) {
				t.Fatalf("Deploy = %v, want ErrChanged", err)
			}
			var ie *deploy.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q is not an *InputError saying %q", err, tt.want)
			}
			assertNothingRecorded(t, tr, st, "crt_1", "crt_2")
		})
	}
}

func TestCertmgrUnavailable(t *testing.T) {
	for _, call := range []int{0, 1} {
		certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
		certs.err[call] = errors.New("connection refused")
		tr, st := newTracker(t, certs)
		_, err := tr.Deploy(context.Background(), "test", input("prod"))
		if !errors.Is(err, deploy.ErrCertmgrUnavailable) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("certmgr failing on call %d: Deploy = %v, want ErrCertmgrUnavailable with the cause", call, err)
		}
		assertNothingRecorded(t, tr, st, "crt_1", "crt_2")
	}
}

func TestRecoverDropsInterruptedDeploys(t *testing.T) {
	certs := newCertmgr(clientCert("crt_1", "rotatedCert", "production"), clientCert("crt_2", "myBackendCert", "production"))
	tr, st := newTracker(t, certs)
	// A deploy that was interrupted after recording its intent.
	p := store.Pending{Token: "p_crashed", Account: "acme", Project: "shop", Environment: "prod", EnvironmentType: "production",
		References: []store.Reference{{CertificateID: "crt_1", CertificateName: "rotatedCert"}}}
	if err := st.BeginDeploy(p); err != nil {
		t.Fatal(err)
	}
	if n, err := tr.Recover(); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1", n, err)
	}
	assertNothingRecorded(t, tr, st, "crt_1")
}
