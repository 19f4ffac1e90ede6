package suite_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/testpki"
)

// The audit trail over REST: its query parameters, what each key may read,
// and bad filters answered 400 naming the parameter.
func TestAuditOverREST(t *testing.T) {
	s := start(t, "")
	admin := s.AdminKey
	leaf := testpki.NewCA(t, "Root").Issue(t, testpki.Options{CommonName: "shop-client"})
	r := call(t, s, admin, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates", map[string]any{
		"name": "myBackendCert", "environmentTypes": []string{"production"},
		"certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM),
	})
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	id, _ := r.body["id"].(string)
	key := func(account, role string) string {
		r := call(t, s, admin, "POST", "/v1/accounts/"+account+"/api-keys", map[string]any{"role": role})
		k, _ := r.body["key"].(string)
		if k == "" {
			t.Fatalf("api key: %d %s", r.status, r.raw)
		}
		return k
	}
	acme, other, edge := key("acme", "account"), key("globex", "account"), key("acme", "edge")
	if r := call(t, s, acme, "POST", "/v1/accounts/acme/projects/shop/mtls-certificates/"+id+":disable", map[string]any{}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}

	base := "/v1/accounts/acme/audit"
	for _, tc := range []struct {
		key, path string
		status    int
		fragment  string
	}{
		{acme, base + "?resource=" + id + "&action=certificate.disable&since=1h", 200, `"actorRole":"account"`},
		{admin, base + "?action=certificate.create", 200, `"actorKeyId":"admin"`},
		{admin, base + "?action=certificate.create", 200, `"name":"myBackendCert"`},
		{acme, base + "?action=apikey.create", 200, `"kind":"apiKey"`},
		{other, base, 403, "may not access account"},
		{edge, base, 403, "admin key or an account key"},
		{acme, "/v1/accounts/_system/audit", 403, "only the admin key"},
		{admin, "/v1/accounts/_system/audit", 200, `"entries":[]`},
		{"", base, 401, ""},
		{acme, base + "?since=yesterday", 400, "since"},
		{acme, base + "?action=" + url.QueryEscape("drop table"), 400, "not an audit action"},
		{acme, base + "?resource=" + url.QueryEscape("crt/x"), 400, "not a resource id"},
		{acme, base + "?pageToken=garbage", 400, "page token"},
		{acme, base + "?pageToken=" + audit.EncodePageToken(1, 2, 3), 400, "page token"},
		{acme, base + "?pageSize=5000", 400, "page size"},
		{acme, "/v1/accounts/Not%20An%20Account/audit", 403, ""},
		{admin, "/v1/accounts/Not%20An%20Account/audit", 400, "account"},
	} {
		r := call(t, s, tc.key, "GET", tc.path, nil)
		if r.status != tc.status || !strings.Contains(r.raw, tc.fragment) {
			t.Errorf("GET %s: %d %s; want %d with %q", tc.path, r.status, r.raw, tc.status, tc.fragment)
		}
	}
	// A master-key rotation belongs to no account: it is in the system
	// trail, which only the admin key reads.
	if r := call(t, s, admin, "POST", "/v1/admin/master-key:rotate", map[string]any{}); r.status != 200 {
		t.Fatalf("rotate the master key: %d %s", r.status, r.raw)
	}
	if r := call(t, s, admin, "GET", "/v1/accounts/_system/audit", nil); r.status != 200 || !strings.Contains(r.raw, `"action":"masterkey.rotate"`) || !strings.Contains(r.raw, `"kind":"masterKey"`) {
		t.Errorf("system trail after a master-key rotation: %d %s", r.status, r.raw)
	}

	// Another account's trail holds nothing of acme's.
	r = call(t, s, other, "GET", "/v1/accounts/globex/audit", nil)
	if r.status != 200 || strings.Contains(r.raw, "acme") || strings.Contains(r.raw, id) {
		t.Errorf("globex's trail: %d %s", r.status, r.raw)
	}
	for _, account := range []string{"acme", "globex"} {
		r := call(t, s, admin, "GET", "/v1/accounts/"+account+"/audit", nil)
		if r.status != 200 || strings.Contains(r.raw, "cbk_") || strings.Contains(r.raw, "PRIVATE KEY") {
			t.Errorf("%s's trail: %d %s", account, r.status, r.raw)
		}
	}
}
