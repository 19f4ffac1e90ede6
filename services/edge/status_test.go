package edge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/auth"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
	"github.com/certbind/certbind/services/edge/cache"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// statusSnapshot holds records of two accounts, several projects and
// environment types, a certificate allowed in two types and one allowed in
// none.
func statusSnapshot() *state.Snapshot {
	snap := &state.Snapshot{Deployments: map[state.Key]*state.Deployment{}, Certificates: map[string]*state.Certificate{}}
	for _, d := range []state.Deployment{
		{ID: "dep_shopprod", Account: "acme", Project: "shop", Environment: "production", EnvironmentType: "production"},
		{ID: "dep_shopdev", Account: "acme", Project: "shop", Environment: "dev", EnvironmentType: "development"},
		{ID: "dep_otherprod", Account: "acme", Project: "other", Environment: "production", EnvironmentType: "production"},
		{ID: "dep_globexprod", Account: "globex", Project: "shop", Environment: "production", EnvironmentType: "production"},
	} {
		snap.Deployments[state.Key{Account: d.Account, Project: d.Project, Environment: d.Environment}] = &d
	}
	for _, c := range []state.Certificate{
		{ID: "crt_shopprod", Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}},
		{ID: "crt_shopboth", Account: "acme", Project: "shop", EnvironmentTypes: []string{"development", "production"}},
		{ID: "crt_shopdev", Account: "acme", Project: "shop", EnvironmentTypes: []string{"development"}},
		{ID: "crt_shopnone", Account: "acme", Project: "shop"},
		{ID: "crt_otherprod", Account: "acme", Project: "other", EnvironmentTypes: []string{"production"}},
		{ID: "crt_globexprod", Account: "globex", Project: "shop", EnvironmentTypes: []string{"production"}},
	} {
		snap.Certificates[c.ID] = &c
	}
	return snap
}

// seen lists the deployment and certificate ids of st, sorted.
func seen(st *edgev1.GetStatusResponse) (deps, certs []string) {
	for _, d := range st.GetDeployments() {
		deps = append(deps, d.GetId())
	}
	for _, c := range st.GetCertificates() {
		certs = append(certs, c.GetId())
	}
	slices.Sort(deps)
	slices.Sort(certs)
	return deps, certs
}

func TestStatusScopeFilters(t *testing.T) {
	allDeps := []string{"dep_globexprod", "dep_otherprod", "dep_shopdev", "dep_shopprod"}
	allCerts := []string{"crt_globexprod", "crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}
	for _, tc := range []struct {
		name      string
		scope     StatusScope
		deps      []string
		certs     []string
		streamsOK bool
	}{
		{"everything", StatusScope{}, allDeps, allCerts, true},
		{"one account", StatusScope{Account: "acme"},
			[]string{"dep_otherprod", "dep_shopdev", "dep_shopprod"},
			[]string{"crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}, true},
		{"the other account", StatusScope{Account: "globex"}, []string{"dep_globexprod"}, []string{"crt_globexprod"}, true},
		{"one project", StatusScope{Account: "acme", Project: "shop"},
			[]string{"dep_shopdev", "dep_shopprod"}, []string{"crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}, true},
		{"one project and type", StatusScope{Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}},
			[]string{"dep_shopprod"}, []string{"crt_shopboth", "crt_shopprod"}, true},
		{"one project, two types", StatusScope{Account: "acme", Project: "shop", EnvironmentTypes: []string{"development", "production"}},
			[]string{"dep_shopdev", "dep_shopprod"}, []string{"crt_shopboth", "crt_shopdev", "crt_shopprod"}, true},
		{"account and type", StatusScope{Account: "acme", EnvironmentTypes: []string{"production"}},
			[]string{"dep_otherprod", "dep_shopprod"}, []string{"crt_otherprod", "crt_shopboth", "crt_shopprod"}, true},
		{"a type nothing has", StatusScope{Account: "acme", EnvironmentTypes: []string{"preview"}}, nil, nil, true},
		{"an account with nothing", StatusScope{Account: "initech"}, nil, nil, true},
		{"a project of another account", StatusScope{Account: "globex", Project: "other"}, nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			streams := []watch.Status{{Name: "certificates", Revision: 7, Connected: true, LastEvent: time.UnixMilli(1000)}, {Name: "deployments", Revision: 9}}
			st := statusOf(streams, statusSnapshot(), tc.scope, cache.Status{}, false)
			deps, certs := seen(st)
			if !slices.Equal(deps, tc.deps) {
				t.Errorf("deployments %v, want %v", deps, tc.deps)
			}
			if !slices.Equal(certs, tc.certs) {
				t.Errorf("certificates %v, want %v", certs, tc.certs)
			}
			if len(st.GetStreams()) != 2 || st.GetStreams()[0].GetRevision() != 7 || st.GetStreams()[0].GetLastEventUnixMs() != 1000 || st.GetStreams()[1].GetRevision() != 9 {
				t.Errorf("streams %v, want both with their revisions", st.GetStreams())
			}
		})
	}
}

func TestStatusScopeFor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      auth.Principal
		want   StatusScope
		denied bool
	}{
		{"admin", auth.Principal{Role: auth.RoleAdmin}, StatusScope{}, false},
		{"edge key", auth.Principal{Role: auth.RoleEdge, Account: "acme"}, StatusScope{Account: "acme"}, false},
		{"scoped edge key", auth.Principal{Role: auth.RoleEdge, Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}},
			StatusScope{Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}}, false},
		{"account key", auth.Principal{Role: auth.RoleAccount, Account: "acme"}, StatusScope{Account: "acme"}, false},
		{"service key", auth.Principal{Role: auth.RoleService}, StatusScope{}, true},
		{"edge key without an account", auth.Principal{Role: auth.RoleEdge}, StatusScope{}, true},
		{"account key without an account", auth.Principal{Role: auth.RoleAccount}, StatusScope{}, true},
		{"no role", auth.Principal{Account: "acme"}, StatusScope{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := StatusScopeFor(tc.p)
			if tc.denied {
				if !errors.Is(err, errStatusDenied) {
					t.Fatalf("got %+v, %v; want denied", got, err)
				}
				return
			}
			if err != nil || got.Account != tc.want.Account || got.Project != tc.want.Project || !slices.Equal(got.EnvironmentTypes, tc.want.EnvironmentTypes) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// memKeys is an in-memory auth.KeyStore, so that the tests issue and check
// keys with the real auth.Authenticator.
type memKeys struct {
	mu   sync.Mutex
	keys map[string]auth.APIKey
}

func (m *memKeys) APIKeyByHash(hash string) (auth.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[hash]
	if !ok {
		return auth.APIKey{}, auth.ErrKeyNotFound
	}
	return k, nil
}

func (m *memKeys) PutAPIKey(k auth.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[k.Hash] = k
	return nil
}

// brokenVerifier cannot reach its key store.
type brokenVerifier struct{}

func (brokenVerifier) Authenticate(string) (auth.Principal, error) {
	return auth.Principal{}, errors.New("key store unreachable")
}

// testEdge returns an edge holding statusSnapshot, following scope with
// statusKey; it follows no streams.
func testEdge(statusKey string, scope watch.Scope) *Edge {
	e, err := New(Config{StatusKey: statusKey, Scope: scope})
	if err != nil {
		panic(err)
	}
	e.store.Update(func(next *state.Snapshot) {
		snap := statusSnapshot()
		next.Deployments, next.Certificates = snap.Deployments, snap.Certificates
	})
	return e
}

// TestAdminStatusKeys reads GET /v1/status from a real listener with the
// status key, with keys the authenticator issued, and with keys nobody
// knows.
func TestAdminStatusKeys(t *testing.T) {
	authn := auth.NewAuthenticator("the-admin-key", "the-service-key", &memKeys{keys: map[string]auth.APIKey{}})
	issue := func(account string, role auth.Role, project string, types ...string) string {
		key, _, err := authn.Issue(account, role, project, types, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	scopedEdge := issue("acme", auth.RoleEdge, "shop", "production")
	acmeAccount := issue("acme", auth.RoleAccount, "")
	globexEdge := issue("globex", auth.RoleEdge, "")

	// This edge follows acme only, with its own status key.
	e := testEdge("the-edge-key", watch.Scope{Account: "acme"})
	e.SetAuthenticator(authn)
	srv := httptest.NewServer(e.AdminHandler())
	defer srv.Close()
	plain := testEdge("the-edge-key", watch.Scope{Account: "acme", Project: "shop", EnvironmentType: "development"})
	plainSrv := httptest.NewServer(plain.AdminHandler())
	defer plainSrv.Close()
	broken := testEdge("the-edge-key", watch.Scope{})
	broken.SetAuthenticator(brokenVerifier{})
	brokenSrv := httptest.NewServer(broken.AdminHandler())
	defer brokenSrv.Close()

	for _, tc := range []struct {
		name        string
		url, header string
		code        int
		deps, certs []string
	}{
		{"status key sees what the edge follows", srv.URL, "Bearer the-edge-key", 200,
			[]string{"dep_otherprod", "dep_shopdev", "dep_shopprod"},
			[]string{"crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}},
		{"admin sees all", srv.URL, "Bearer the-admin-key", 200,
			[]string{"dep_globexprod", "dep_otherprod", "dep_shopdev", "dep_shopprod"},
			[]string{"crt_globexprod", "crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}},
		{"edge key of acme/shop/production", srv.URL, "Bearer " + scopedEdge, 200,
			[]string{"dep_shopprod"}, []string{"crt_shopboth", "crt_shopprod"}},
		{"account key of acme", srv.URL, "Bearer " + acmeAccount, 200,
			[]string{"dep_otherprod", "dep_shopdev", "dep_shopprod"},
			[]string{"crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}},
		{"edge key of globex", srv.URL, "Bearer " + globexEdge, 200, []string{"dep_globexprod"}, []string{"crt_globexprod"}},
		{"service key", srv.URL, "Bearer the-service-key", 403, nil, nil},
		{"unknown key", srv.URL, "Bearer cbk_nobody", 401, nil, nil},
		{"no key", srv.URL, "", 401, nil, nil},
		{"empty bearer", srv.URL, "Bearer ", 401, nil, nil},
		{"without an authenticator the status key still works", plainSrv.URL, "Bearer the-edge-key", 200,
			[]string{"dep_shopdev"}, []string{"crt_shopboth", "crt_shopdev"}},
		{"without an authenticator other keys are unknown", plainSrv.URL, "Bearer " + scopedEdge, 401, nil, nil},
		{"without an authenticator admin is unknown", plainSrv.URL, "Bearer the-admin-key", 401, nil, nil},
		{"the status key does not need the key store", brokenSrv.URL, "Bearer the-edge-key", 200,
			[]string{"dep_globexprod", "dep_otherprod", "dep_shopdev", "dep_shopprod"},
			[]string{"crt_globexprod", "crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}},
		{"key store down", brokenSrv.URL, "Bearer " + scopedEdge, 503, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", tc.url+"/v1/status", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s %s, want %d", resp.StatusCode, resp.Header.Get("Content-Type"), raw, tc.code)
			}
			if tc.code != 200 {
				var body struct{ Error, Message string }
				if err := json.Unmarshal(raw, &body); err != nil || body.Error == "" || body.Message == "" {
					t.Fatalf("error body %s: %v", raw, err)
				}
				if strings.Contains(string(raw), "crt_") || strings.Contains(string(raw), "dep_") {
					t.Fatalf("an error names records: %s", raw)
				}
				return
			}
			st := &edgev1.GetStatusResponse{}
			if err := protojson.Unmarshal(raw, st); err != nil {
				t.Fatal(err)
			}
			deps, certs := seen(st)
			if !slices.Equal(deps, tc.deps) || !slices.Equal(certs, tc.certs) {
				t.Fatalf("sees %v %v, want %v %v", deps, certs, tc.deps, tc.certs)
			}
		})
	}
}

// TestGetStatusCallers calls StatusService's handler as a server that
// authenticates calls (a principal in the context) and as one that does
// not (a separate edge: the key in the metadata) would.
func TestGetStatusCallers(t *testing.T) {
	e := testEdge("the-edge-key", watch.Scope{})
	srv := statusServer{e: e}
	withKey := func(key string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+key))
	}
	withPrincipal := func(p auth.Principal) context.Context { return auth.WithPrincipal(context.Background(), p) }
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		code  codes.Code
		deps  []string
		certs []string
	}{
		{"admin principal", withPrincipal(auth.Principal{Role: auth.RoleAdmin}), codes.OK,
			[]string{"dep_globexprod", "dep_otherprod", "dep_shopdev", "dep_shopprod"},
			[]string{"crt_globexprod", "crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}},
		{"scoped edge principal", withPrincipal(auth.Principal{Role: auth.RoleEdge, Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}}),
			codes.OK, []string{"dep_shopprod"}, []string{"crt_shopboth", "crt_shopprod"}},
		{"account principal of globex", withPrincipal(auth.Principal{Role: auth.RoleAccount, Account: "globex"}),
			codes.OK, []string{"dep_globexprod"}, []string{"crt_globexprod"}},
		{"service principal", withPrincipal(auth.Principal{Role: auth.RoleService}), codes.PermissionDenied, nil, nil},
		// A principal decides even when the metadata carries the status key.
		{"principal over the status key", auth.WithPrincipal(withKey("the-edge-key"), auth.Principal{Role: auth.RoleEdge, Account: "globex"}),
			codes.OK, []string{"dep_globexprod"}, []string{"crt_globexprod"}},
		{"status key", withKey("the-edge-key"), codes.OK,
			[]string{"dep_globexprod", "dep_otherprod", "dep_shopdev", "dep_shopprod"},
			[]string{"crt_globexprod", "crt_otherprod", "crt_shopboth", "crt_shopdev", "crt_shopnone", "crt_shopprod"}},
		{"other key", withKey("cbk_nobody"), codes.Unauthenticated, nil, nil},
		{"no key", context.Background(), codes.Unauthenticated, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := srv.GetStatus(tc.ctx, &edgev1.GetStatusRequest{})
			if status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
			deps, certs := seen(st)
			if !slices.Equal(deps, tc.deps) || !slices.Equal(certs, tc.certs) {
				t.Fatalf("sees %v %v, want %v %v", deps, certs, tc.deps, tc.certs)
			}
		})
	}
}

func TestAdminExposed(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8001}, false},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 8001}, false},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8001}, false},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8001}, true},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8001}, true},
		{&net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 8001}, true},
		{&net.TCPAddr{Port: 8001}, true}, // no IP: every interface
		{&net.UnixAddr{Name: "/run/edge-admin.sock", Net: "unix"}, false},
	} {
		if got := AdminExposed(tc.addr); got != tc.want {
			t.Errorf("AdminExposed(%v) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}
