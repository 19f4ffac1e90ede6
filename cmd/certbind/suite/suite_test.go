package suite_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certbind/certbind/cmd/certbind/suite"
	"github.com/certbind/certbind/internal/testpki"
)

func start(t *testing.T, adminKey string) *suite.Suite {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := suite.Start(ctx, suite.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", AdminKey: adminKey})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s
}

type response struct {
	status int
	body   map[string]any
	raw    string
}

func call(t *testing.T, s *suite.Suite, key, method, path string, body any) response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = strings.NewReader(string(data))
	}
	req, err := http.NewRequest(method, s.HTTPURL+path, r)
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
	out := response{status: resp.StatusCode, raw: string(raw)}
	json.Unmarshal(raw, &out.body)
	return out
}

func TestRESTContract(t *testing.T) {
	s := start(t, "")
	admin := s.AdminKey
	if !s.AdminKeyCreated {
		t.Fatal("a fresh data dir should get a new admin key")
	}
	if fi, err := os.Stat(s.AdminKeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin key file: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(s.DataDir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v %v", fi, err)
	}
	ca := testpki.NewCA(t, "Root")
	leaf := ca.Issue(t, testpki.Options{CommonName: "shop-client"})
	base := "/v1/accounts/acme/projects/shop/mtls-certificates"

	r := call(t, s, admin, "POST", base, map[string]any{
		"name": "myBackendCert", "environmentTypes": []string{"development", "production"},
		"certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM),
	})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	// The REST answer is the certificate itself, with the contract's fields.
	for _, f := range []string{"id", "name", "account", "project", "environmentTypes", "state", "subject", "issuer", "serialNumber", "fingerprintSha256", "notBefore", "notAfter", "createdAt"} {
		if _, ok := r.body[f]; !ok {
			t.Errorf("create response lacks %q: %s", f, r.raw)
		}
	}
	if strings.Contains(r.raw, "PRIVATE KEY") || strings.Contains(strings.ToLower(r.raw), "privatekey") {
		t.Fatalf("response carries key material: %s", r.raw)
	}
	id, _ := r.body["id"].(string)

	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		fragment     string
	}{
		{"GET", base, nil, 200, `"certificates"`},
		{"GET", base + "?environmentType=production&expiringWithinDays=30", nil, 200, `"certificates":[]`},
		{"GET", base + "/" + id, nil, 200, `"name":"myBackendCert"`},
		{"PATCH", base + "/" + id, map[string]any{"environmentTypes": []string{"preview"}}, 200, `"environmentTypes":["preview"]`},
		{"POST", base + "/" + id + ":disable", map[string]any{}, 200, `"state":"disabled"`},
		{"POST", base + "/" + id + ":enable", map[string]any{}, 200, `"state":"active"`},
		{"GET", base + "/crt_aaaaaaaaaaaaaaaaaaaaaaaa", nil, 404, "no certificate"},
		{"GET", base + "/not-an-id", nil, 400, "not a certificate id"},
		{"POST", base, map[string]any{"name": "my-backend-cert", "environmentTypes": []string{"production"}}, 400, "myBackendCert"},
		{"POST", base, `{"name": `, 400, ""},
		{"POST", base, `{"nmae": "x"}`, 400, "nmae"},
		{"POST", base, map[string]any{"name": "myBackendCert", "environmentTypes": []string{"production"}, "certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM)}, 409, "already in use"},
		{"POST", base, map[string]any{"name": "big", "certificatePem": strings.Repeat("A", 2<<20)}, 413, "larger than"},
		{"POST", "/v1/accounts/acme/api-keys", map[string]any{}, 200, `"key":"cbk_`},
		{"DELETE", base + "/" + id, nil, 200, id},
		{"GET", base + "/" + id, nil, 404, ""},
	} {
		r := call(t, s, admin, tc.method, tc.path, tc.body)
		if r.status != tc.status || !strings.Contains(r.raw, tc.fragment) {
			t.Errorf("%s %s: %d %s; want %d with %q", tc.method, tc.path, r.status, r.raw, tc.status, tc.fragment)
		}
	}
}

func TestRESTAuth(t *testing.T) {
	s := start(t, "fixed-admin-key-0123456789abcdef0123456789abcdef")
	if s.AdminKey != "fixed-admin-key-0123456789abcdef0123456789abcdef" || s.AdminKeyCreated {
		t.Fatalf("admin key from config not used")
	}
	list := "/v1/accounts/acme/projects/shop/mtls-certificates"
	if r := call(t, s, "", "GET", list, nil); r.status != 401 || !strings.Contains(r.raw, "Bearer") {
		t.Fatalf("no key: %d %s", r.status, r.raw)
	}
	if r := call(t, s, "wrong", "GET", list, nil); r.status != 401 {
		t.Fatalf("bad key: %d %s", r.status, r.raw)
	}
	r := call(t, s, "fixed-admin-key-0123456789abcdef0123456789abcdef", "POST", "/v1/accounts/globex/api-keys", map[string]any{})
	globex, _ := r.body["key"].(string)
	if r.status != 200 || globex == "" {
		t.Fatalf("api key: %d %s", r.status, r.raw)
	}
	if r := call(t, s, globex, "GET", list, nil); r.status != 403 {
		t.Fatalf("other account: %d %s", r.status, r.raw)
	}
	if r := call(t, s, globex, "GET", "/v1/accounts/globex/projects/shop/mtls-certificates", nil); r.status != 200 {
		t.Fatalf("own account: %d %s", r.status, r.raw)
	}
	if r := call(t, s, globex, "POST", "/v1/accounts/globex/api-keys", map[string]any{}); r.status != 403 {
		t.Fatalf("account key creating keys: %d %s", r.status, r.raw)
	}
}

func TestOpenAPIAndHealth(t *testing.T) {
	s := start(t, "k-0123456789abcdef0123456789abcdef")
	r := call(t, s, "", "GET", "/openapi.json", nil)
	if r.status != 200 || r.body["swagger"] != "2.0" || !strings.Contains(r.raw, "/v1/accounts/{account}/projects/{project}/mtls-certificates/{id}:disable") {
		t.Fatalf("openapi: %d %.200s", r.status, r.raw)
	}
	if strings.Contains(r.raw, "WatchCertificates") {
		t.Fatal("the distribution stream must not be exposed over REST")
	}
	if r := call(t, s, "", "GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz: %d %s", r.status, r.raw)
	}
}

func TestRestartKeepsAdminKeyAndData(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := suite.Start(ctx, suite.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	key := s.AdminKey
	cancel()
	s.Close()
	s2, err := suite.Start(context.Background(), suite.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.AdminKey != key || s2.AdminKeyCreated {
		t.Fatal("the admin key changed across restarts")
	}
}
