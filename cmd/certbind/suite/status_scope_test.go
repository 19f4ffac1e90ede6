package suite_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/testpki"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
)

// tenantRecord is one certificate and one deployment made for the status
// isolation test, with what a status page would show of them.
type tenantRecord struct {
	account, project, envType string
	certName                  string
	certID, fingerprint       string
	deployID, urlPath         string
}

// TestStatusShowsOnlyWhatTheKeyMaySee reads the edge's status over gRPC
// (StatusService on the suite's server) and over HTTP (the admin
// listener's /v1/status) with keys of different scopes, and checks that
// each sees exactly its own account's records, narrowed to its project
// and environment types.
func TestStatusShowsOnlyWhatTheKeyMaySee(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	ca := testpki.NewCA(t, "Status Root")
	records := []*tenantRecord{
		{account: "acme", project: "shop", envType: "production", certName: "shopProd"},
		{account: "acme", project: "shop", envType: "development", certName: "shopDev"},
		{account: "acme", project: "other", envType: "production", certName: "otherProd"},
		{account: "globex", project: "shop", envType: "production", certName: "globexProd"},
	}
	for _, rec := range records {
		leaf := ca.Issue(t, testpki.Options{CommonName: rec.certName})
		base := "/v1/accounts/" + rec.account + "/projects/" + rec.project
		r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", base+"/mtls-certificates", map[string]any{"name": rec.certName,
			"environmentTypes": []string{rec.envType}, "certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM)})
		if r.status != 200 {
			t.Fatalf("upload %s: %d %s", rec.certName, r.status, r.raw)
		}
		rec.certID, _ = r.body["id"].(string)
		rec.fingerprint, _ = r.body["fingerprintSha256"].(string)
		env := rec.envType
		r = call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", base+"/deployments",
			map[string]any{"environment": env, "environmentType": rec.envType, "config": gatewayConfig("", "")})
		if r.status != 200 {
			t.Fatalf("deploy %s/%s/%s: %d %s", rec.account, rec.project, env, r.status, r.raw)
		}
		rec.deployID, _ = r.body["id"].(string)
		rec.urlPath = "/" + rec.account + "/" + rec.project + "/" + env
		if rec.certID == "" || rec.fingerprint == "" || rec.deployID == "" {
			t.Fatalf("%s: missing id or fingerprint in the answers", rec.certName)
		}
	}
	shopProd, shopDev, otherProd, globexProd := records[0], records[1], records[2], records[3]

	newKey := func(account string, body map[string]any) string {
		t.Helper()
		r := call(t, s, "admin-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/"+account+"/api-keys", body)
		key, _ := r.body["key"].(string)
		if r.status != 200 || key == "" {
			t.Fatalf("create key for %s %v: %d %s", account, body, r.status, r.raw)
		}
		return key
	}
	scopedEdge := newKey("acme", map[string]any{"role": "edge", "project": "shop", "environmentTypes": []string{"production"}})
	acmeEdge := newKey("acme", map[string]any{"role": "edge"})
	acmeAccount := newKey("acme", map[string]any{})
	globexEdge := newKey("globex", map[string]any{"role": "edge"})

	// Wait for the edge to hold every record before asking what each key
	// sees, so that an absence below is a filter and not a lag.
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, st, _ := httpStatus(t, s, "admin-0123456789abcdef0123456789abcdef")
		if code == 200 && len(st.GetDeployments()) == len(records) && len(st.GetCertificates()) == len(records) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge never held all %d records: %d %v", len(records), code, st)
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, tc := range []struct {
		name string
		key  string
		want []*tenantRecord
	}{
		{"admin", "admin-0123456789abcdef0123456789abcdef", records},
		{"edge key of acme/shop/production", scopedEdge, []*tenantRecord{shopProd}},
		{"edge key of acme", acmeEdge, []*tenantRecord{shopProd, shopDev, otherProd}},
		{"account key of acme", acmeAccount, []*tenantRecord{shopProd, shopDev, otherProd}},
		{"edge key of globex", globexEdge, []*tenantRecord{globexProd}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Stream progress is the edge's, not a tenant's: every reader
			// gets it.
			if gst, err := grpcStatus(t, s, tc.key); err != nil {
				t.Errorf("StatusService.GetStatus: %v", err)
			} else {
				graw, _ := protojson.Marshal(gst)
				checkSees(t, "gRPC", gst, string(graw), records, tc.want)
				if len(gst.GetStreams()) != 2 {
					t.Errorf("gRPC: streams %v, want both", gst.GetStreams())
				}
			}
			if code, st, raw := httpStatus(t, s, tc.key); code != 200 {
				t.Errorf("GET /v1/status: %d %s", code, raw)
			} else {
				checkSees(t, "HTTP", st, raw, records, tc.want)
				if len(st.GetStreams()) != 2 {
					t.Errorf("HTTP: streams %v, want both", st.GetStreams())
				}
			}
		})
	}

	if code, _, raw := httpStatus(t, s, "cbk_notakey"); code != 401 || !strings.Contains(raw, `"unauthenticated"`) {
		t.Errorf("GET /v1/status with an unknown key: %d %s, want 401", code, raw)
	}
	if code, _, raw := httpStatus(t, s, ""); code != 401 {
		t.Errorf("GET /v1/status without a key: %d %s, want 401", code, raw)
	}
	if _, err := grpcStatus(t, s, "cbk_notakey"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("GetStatus with an unknown key: %v, want Unauthenticated", err)
	}
}

// checkSees fails unless st holds exactly want's deployments and
// certificates, and raw (the answer as sent) names nothing of the others.
func checkSees(t *testing.T, via string, st *edgev1.GetStatusResponse, raw string, all, want []*tenantRecord) {
	t.Helper()
	var gotDeps, gotCerts, wantDeps, wantCerts []string
	for _, d := range st.GetDeployments() {
		gotDeps = append(gotDeps, d.GetUrlPath())
	}
	for _, c := range st.GetCertificates() {
		gotCerts = append(gotCerts, c.GetName())
	}
	for _, rec := range want {
		wantDeps = append(wantDeps, rec.urlPath)
		wantCerts = append(wantCerts, rec.certName)
	}
	for _, l := range [][]string{gotDeps, gotCerts, wantDeps, wantCerts} {
		slices.Sort(l)
	}
	if !slices.Equal(gotDeps, wantDeps) {
		t.Errorf("%s: deployments %v, want %v", via, gotDeps, wantDeps)
	}
	if !slices.Equal(gotCerts, wantCerts) {
		t.Errorf("%s: certificates %v, want %v", via, gotCerts, wantCerts)
	}
	for _, rec := range all {
		if slices.Contains(want, rec) {
			continue
		}
		for _, secret := range []string{rec.certID, rec.certName, rec.fingerprint, rec.deployID, rec.urlPath} {
			if strings.Contains(raw, secret) {
				t.Errorf("%s: the answer names %q of %s/%s/%s", via, secret, rec.account, rec.project, rec.envType)
			}
		}
	}
}

// httpStatus reads GET /v1/status on the edge's admin listener with key.
func httpStatus(t *testing.T, s *suite.Suite, key string) (int, *edgev1.GetStatusResponse, string) {
	t.Helper()
	req, err := http.NewRequest("GET", s.EdgeAdminURL+"/v1/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	st := &edgev1.GetStatusResponse{}
	if resp.StatusCode == 200 {
		if err := protojson.Unmarshal(raw, st); err != nil {
			t.Fatalf("status is not a GetStatusResponse: %v\n%s", err, raw)
		}
	} else if !json.Valid(raw) {
		t.Errorf("a %d status answer is not JSON: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, st, string(raw)
}

// grpcStatus calls StatusService.GetStatus on the suite's gRPC server with
// key.
func grpcStatus(t *testing.T, s *suite.Suite, key string) (*edgev1.GetStatusResponse, error) {
	t.Helper()
	conn, err := grpc.NewClient(s.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: key}))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return edgev1.NewStatusServiceClient(conn).GetStatus(ctx, &edgev1.GetStatusRequest{})
}

// lockedBuffer collects log lines written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEdgeAdminListenerWarnsOffLoopback: the admin listener binds to
// loopback unless told otherwise, and a start with another address says
// so in the log.
func TestEdgeAdminListenerWarnsOffLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{"", false},
		{"127.0.0.1:0", false},
		{"0.0.0.0:0", true},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			var logs lockedBuffer
			s, err := suite.Start(context.Background(), suite.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0",
				AdminKey: "admin-0123456789abcdef0123456789abcdef", EdgeAdminAddr: tc.addr, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !tc.warn && !strings.HasPrefix(s.EdgeAdminURL, "http://127.0.0.1:") {
				t.Errorf("admin listener at %s, want loopback", s.EdgeAdminURL)
			}
			if got := strings.Contains(logs.String(), "not on loopback"); got != tc.warn {
				t.Errorf("warned %v, want %v; log:\n%s", got, tc.warn, logs.String())
			}
		})
	}
}
