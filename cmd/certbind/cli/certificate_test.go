package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/testpkcs12"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// certsPathOf is the REST path of account's certificates in project shop.
func certsPathOf(account string) string {
	return "/v1/accounts/" + account + "/projects/shop/mtls-certificates"
}

func TestTargetByName(t *testing.T) {
	tests := []struct {
		verb      string
		wantState string
		wantCalls []string // method and path suffix of each request, after the lookup by name
	}{
		{"describe", "active", []string{"GET /{id}", "GET /{id}/references"}},
		{"disable", "disabled", []string{"POST /{id}:disable"}},
		{"enable", "active", []string{"POST /{id}:enable"}},
	}
	account := newAccount()
	certs := createCerts(t, account, certSpec{name: "otherCert", days: 100, types: []string{"production"}},
		certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})
	id, path := certs[1].GetId(), certsPathOf(account)
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			rec := newRecorder(t)
			stdout, _, err := runCLI(t, rec.env(), "mtls-certificate", tt.verb, "--account", account, "--project", "shop", "--name", "myBackendCert")
			if err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests()
			if len(reqs) == 0 || reqs[0].Method != "GET" || reqs[0].Path != path || reqs[0].Query != "name=myBackendCert" {
				t.Fatalf("first request = %+v, want a list filtered by name", reqs)
			}
			var got, want []string
			for _, r := range reqs[1:] {
				got = append(got, r.Method+" "+r.Path)
			}
			for _, w := range tt.wantCalls {
				method, suffix, _ := strings.Cut(w, " ")
				want = append(want, method+" "+path+strings.ReplaceAll(suffix, "{id}", id))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("requests after lookup = %q, want %q", got, want)
			}
			for _, want := range []string{"ID:", id, "Name:", "myBackendCert", "State:", tt.wantState} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
	// The other certificate was not touched.
	other, err := adminClient(t).GetCertificate(t.Context(), account, "shop", certs[0].GetId())
	if err != nil || other.GetState() != "active" || other.GetName() != "otherCert" {
		t.Errorf("otherCert = %v, %v; want it active and untouched", other, err)
	}
}

func TestTargetByNameNotFound(t *testing.T) {
	account := newAccount()
	createCerts(t, account, certSpec{name: "otherCert", days: 100, types: []string{"production"}})
	rec := newRecorder(t)
	_, _, err := runCLI(t, rec.env(), "mtls-certificate", "delete", "--account", account, "--project", "shop", "--name", "myBackendCert")
	want := `no certificate named "myBackendCert" in account ` + account + `, project shop`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	all, err := adminClient(t).ListAllCertificates(t.Context(), &certmgrv1.ListCertificatesRequest{Account: account, Project: "shop"})
	if err != nil || len(all) != 1 {
		t.Errorf("certificates left: %v, %v; want otherCert", all, err)
	}
	for _, r := range rec.requests() {
		if r.Method != "GET" {
			t.Errorf("unexpected %s %s after a failed lookup", r.Method, r.Path)
		}
	}
}

// TestTargetByNameIgnoresOtherNames guards against acting on the wrong
// certificate if the server did not apply the name filter: the recorder
// drops ?name= on its way to the real server.
func TestTargetByNameIgnoresOtherNames(t *testing.T) {
	account := newAccount()
	certs := createCerts(t, account, certSpec{name: "otherCert", days: 100, types: []string{"production"}})
	rec := newRecorder(t)
	rec.setFault(dropNameFilter)
	_, _, err := runCLI(t, rec.env(), "mtls-certificate", "disable", "--account", account, "--project", "shop", "--name", "myBackendCert")
	if err == nil || !strings.Contains(err.Error(), "no certificate named") {
		t.Fatalf("err = %v, want not found", err)
	}
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].Status != 200 {
		t.Fatalf("requests = %+v, want the one unfiltered list", reqs)
	}
	if c, err := adminClient(t).GetCertificate(t.Context(), account, "shop", certs[0].GetId()); err != nil || c.GetState() != "active" {
		t.Errorf("otherCert = %v, %v; want it still active", c, err)
	}
}

func TestDescribeTable(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 12, types: []string{"development", "production"},
		dnsNames: []string{"backend.internal", "api.internal"}})[0]
	stdout, _, err := runCLI(t, realEnv(t), "mtls-certificate", "describe", "--account", account, "--project", "shop", "--cert-id", c.GetId())
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(stdout, "\n"), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("line %q is not Field: value", line)
		}
		fields[k] = strings.TrimSpace(v)
	}
	fields["Referenced by"] = "" // the references, checked in certificate_references_test.go
	for k, want := range map[string]string{
		"ID": c.GetId(), "Name": "myBackendCert", "Account": account, "Project": "shop",
		"Kind": "client", "State": "active", "Version": "1",
		"Environment types": "development,production", "Subject": "CN=myBackendCert",
		"Issuer": "CN=CLI Test CA", "Serial": c.leaf.Cert.SerialNumber.Text(16), "Fingerprint (SHA-256)": c.GetFingerprintSha256(),
		"Key algorithm": c.GetKeyAlgorithm(), "DNS names": "backend.internal,api.internal",
	} {
		if fields[k] != want || want == "" {
			t.Errorf("%s = %q, want %q", k, fields[k], want)
		}
	}
	if got := fields["Not after"]; !strings.HasSuffix(got, "(12 days left, ⚠ expiring soon)") {
		t.Errorf("Not after = %q, want the days left and a warning", got)
	}
	for _, k := range []string{"Not before", "Created", "Updated"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("no %s line", k)
		}
	}
}

func TestDescribeJSONIsBareCertificate(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	stdout, _, err := runCLI(t, realEnv(t), "--output", "json", "mtls-certificate", "describe", "--account", account, "--project", "shop", "--cert-id", c.GetId())
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	for _, k := range []string{"id", "name", "account", "project", "environmentTypes", "state", "subject", "issuer", "serialNumber", "fingerprintSha256", "notBefore", "notAfter", "createdAt"} {
		if _, ok := obj[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if obj["id"] != c.GetId() {
		t.Errorf("id = %v, want %s", obj["id"], c.GetId())
	}
	if _, ok := obj["certificate"]; ok {
		t.Error("JSON is the response wrapper, want the certificate itself")
	}
	if refs, ok := obj["references"].([]any); !ok || len(refs) != 0 {
		t.Errorf("references = %v, want an empty array", obj["references"])
	}
	// Apart from the added references, it must read back as a Certificate.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(stdout), &certmgrv1.Certificate{}); err != nil {
		t.Errorf("output is not a Certificate: %v", err)
	}
}

// TestCreateSendsUpload uploads a certificate with an encrypted key, whose
// passphrase comes from the environment: the real server takes it only if
// the passphrase arrived.
func TestCreateSendsUpload(t *testing.T) {
	dir := t.TempDir()
	leaf := testpki.NewCA(t, "Upload CA").Issue(t, testpki.Options{CommonName: "shop-gateway"})
	keyPEM := string(leaf.EncryptedKeyPEM(t, "from-env"))
	cert := writeFile(t, dir, "cert.pem", string(leaf.CertPEM))
	key := writeFile(t, dir, "key.pem", keyPEM)
	account := newAccount()
	rec := newRecorder(t)
	env := rec.env()
	env[EnvKeyPassphrase] = "from-env"

	stdout, _, err := runCLI(t, env, "mtls-certificate", "create", "--cert", cert, "--key", key, "--name", "myBackendCert",
		"--account", account, "--project", "shop", "--environment-type", "production, development", "--environment-type", "production")
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != certsPathOf(account) {
		t.Fatalf("requests = %+v, want one POST %s", reqs, certsPathOf(account))
	}
	if reqs[0].Auth != "Bearer "+adminKey {
		t.Errorf("Authorization = %q", reqs[0].Auth)
	}
	got := &certmgrv1.CreateCertificateRequest{}
	if err := protojson.Unmarshal(reqs[0].Body, got); err != nil {
		t.Fatal(err)
	}
	if got.GetName() != "myBackendCert" || got.GetCertificatePem() != string(leaf.CertPEM) || got.GetPrivateKeyPem() != keyPEM ||
		got.GetPrivateKeyPassphrase() != "from-env" || got.GetCa() || len(got.GetPkcs12()) != 0 {
		t.Errorf("upload = %v", got)
	}
	if types := strings.Join(got.GetEnvironmentTypes(), ","); types != "development,production" {
		t.Errorf("environment types = %q, want development,production", types)
	}
	for _, want := range []string{"Name:", "myBackendCert", "CN=shop-gateway", "development,production"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

// TestCreatePassphraseFlagBeatsEnv uploads a PKCS#12 file sealed with the
// --p12-password flag's password while CERTBIND_P12_PASSWORD holds another:
// the real server opens it only with the flag's.
func TestCreatePassphraseFlagBeatsEnv(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "P12 CA")
	bundle := testpkcs12.Encode(t, ca.Issue(t, testpki.Options{CommonName: "p12-gateway"}), []*testpki.Cert{ca}, "flag-password")
	p12 := writeFile(t, dir, "b.p12", string(bundle))
	account := newAccount()
	rec := newRecorder(t)
	env := rec.env()
	env[EnvKeyPassphrase] = "ignored-for-p12"
	env[EnvP12Password] = "env-password"
	stdout, _, err := runCLI(t, env, "mtls-certificate", "create", "--p12", p12, "--p12-password", "flag-password", "--name", "myBackendCert",
		"--account", account, "--project", "shop", "--environment-type", "preview")
	if err != nil {
		t.Fatal(err)
	}
	got := &certmgrv1.CreateCertificateRequest{}
	if err := protojson.Unmarshal(rec.requests()[0].Body, got); err != nil {
		t.Fatal(err)
	}
	if string(got.GetPkcs12()) != string(bundle) || got.GetPkcs12Password() != "flag-password" || got.GetPrivateKeyPassphrase() != "" {
		t.Errorf("upload = %v", got)
	}
	if !strings.Contains(stdout, "CN=p12-gateway") {
		t.Errorf("output does not describe the uploaded certificate:\n%s", stdout)
	}
}

func TestUpdateSendsTypes(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	rec := newRecorder(t)
	stdout, _, err := runCLI(t, rec.env(), "--output", "json", "mtls-certificate", "update", "--account", account, "--project", "shop",
		"--cert-id", c.GetId(), "--environment-type", "preview,development")
	if err != nil {
		t.Fatal(err)
	}
	r := rec.requests()[0]
	if r.Method != "PATCH" || r.Path != certsPathOf(account)+"/"+c.GetId() {
		t.Fatalf("request = %s %s", r.Method, r.Path)
	}
	got := &certmgrv1.Certificate{}
	if err := protojson.Unmarshal([]byte(stdout), got); err != nil {
		t.Fatal(err)
	}
	if types := strings.Join(got.GetEnvironmentTypes(), ","); types != "development,preview" {
		t.Errorf("environment types = %q", types)
	}
	stored, err := adminClient(t).GetCertificate(t.Context(), account, "shop", c.GetId())
	if err != nil || strings.Join(stored.GetEnvironmentTypes(), ",") != "development,preview" {
		t.Errorf("stored = %v, %v; want development,preview", stored.GetEnvironmentTypes(), err)
	}
}

func TestDeletePrintsNameAndID(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	stdout, _, err := runCLI(t, realEnv(t), "mtls-certificate", "delete", "--account", account, "--project", "shop", "--cert-id", c.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if want := "deleted certificate myBackendCert (" + c.GetId() + ")\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	var apiErr *APIError
	if _, err := adminClient(t).GetCertificate(t.Context(), account, "shop", c.GetId()); !asAPIError(err, &apiErr) || apiErr.HTTPStatus != http.StatusNotFound {
		t.Errorf("after delete: %v, want not found", err)
	}
}

func TestCertIDIsEscaped(t *testing.T) {
	rec := newRecorder(t)
	account := newAccount()
	_, _, err := runCLI(t, rec.env(), "mtls-certificate", "disable", "--account", account, "--project", "shop", "--cert-id", "a/b:enable?x")
	// The REST facade does not route an escaped "/" inside a segment
	// (Not Found); either way, no certificate is disabled.
	if err == nil {
		t.Fatal("no error for an id that is not one")
	}
	r := rec.requests()[0]
	if want := certsPathOf(account) + "/a%2Fb%3Aenable%3Fx:disable"; r.RawPath != want {
		t.Errorf("raw path = %q, want %q", r.RawPath, want)
	}
	if r.Query != "" {
		t.Errorf("query = %q, want none", r.Query)
	}
}
