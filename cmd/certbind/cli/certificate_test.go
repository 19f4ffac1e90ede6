package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func TestTargetByName(t *testing.T) {
	tests := []struct {
		verb      string
		wantState string
		wantCalls []string // method and path of each request, after the lookup by name
	}{
		{"describe", "active", []string{"GET " + certsPath + "/c2", "GET " + certsPath + "/c2/references"}},
		{"disable", "disabled", []string{"POST " + certsPath + "/c2:disable"}},
		{"enable", "active", []string{"POST " + certsPath + "/c2:enable"}},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			f := newFakeAPI(t, testCert("c1", "otherCert", 100), testCert("c2", "myBackendCert", 100, "production"))
			stdout, _, err := runCLI(t, f.env(), "mtls-certificate", tt.verb, "--account", "acme", "--project", "shop", "--name", "myBackendCert")
			if err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if len(reqs) == 0 || reqs[0].Method != "GET" || reqs[0].Path != certsPath || reqs[0].Query != "name=myBackendCert" {
				t.Fatalf("first request = %+v, want a list filtered by name", reqs)
			}
			var got []string
			for _, r := range reqs[1:] {
				got = append(got, r.Method+" "+r.Path)
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantCalls, "\n") {
				t.Errorf("requests after lookup = %q, want %q", got, tt.wantCalls)
			}
			for _, want := range []string{"ID:", "c2", "Name:", "myBackendCert", "State:", tt.wantState} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestTargetByNameNotFound(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "otherCert", 100))
	_, _, err := runCLI(t, f.env(), "mtls-certificate", "delete", "--account", "acme", "--project", "shop", "--name", "myBackendCert")
	want := `no certificate named "myBackendCert" in account acme, project shop`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if len(f.certs) != 1 {
		t.Error("a certificate was deleted")
	}
	for _, r := range f.requests() {
		if r.Method != "GET" {
			t.Errorf("unexpected %s %s after a failed lookup", r.Method, r.Path)
		}
	}
}

// TestTargetByNameIgnoresOtherNames guards against acting on the wrong
// certificate if the server did not apply the name filter.
func TestTargetByNameIgnoresOtherNames(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "otherCert", 100))
	f.srv.Config.Handler = nameFilterIgnored{f}
	_, _, err := runCLI(t, f.env(), "mtls-certificate", "disable", "--account", "acme", "--project", "shop", "--name", "myBackendCert")
	if err == nil || !strings.Contains(err.Error(), "no certificate named") {
		t.Fatalf("err = %v, want not found", err)
	}
}

func TestDescribeTable(t *testing.T) {
	c := testCert("c7", "myBackendCert", 12, "development", "production")
	c.DnsNames = []string{"backend.internal", "api.internal"}
	f := newFakeAPI(t, c)
	stdout, _, err := runCLI(t, f.env(), "mtls-certificate", "describe", "--account", "acme", "--project", "shop", "--cert-id", "c7")
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
	for k, want := range map[string]string{
		"ID": "c7", "Name": "myBackendCert", "Account": "acme", "Project": "shop",
		"Kind": "client", "State": "active", "Version": "1",
		"Environment types": "development,production", "Subject": "CN=myBackendCert",
		"Issuer": "CN=Test CA", "Serial": "0a1b", "Fingerprint (SHA-256)": "ab12",
		"Key algorithm": "ECDSA P-256", "DNS names": "backend.internal,api.internal",
	} {
		if fields[k] != want {
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
	f := newFakeAPI(t, testCert("c1", "myBackendCert", 100))
	stdout, _, err := runCLI(t, f.env(), "--output", "json", "mtls-certificate", "describe", "--account", "acme", "--project", "shop", "--cert-id", "c1")
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

func TestCreateSendsUpload(t *testing.T) {
	dir := t.TempDir()
	certPEM := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	keyPEM := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n-----END ENCRYPTED PRIVATE KEY-----\n"
	cert := writeFile(t, dir, "cert.pem", certPEM)
	key := writeFile(t, dir, "key.pem", keyPEM)
	f := newFakeAPI(t)
	env := f.env()
	env[EnvKeyPassphrase] = "from-env"

	stdout, _, err := runCLI(t, env, "mtls-certificate", "create", "--cert", cert, "--key", key, "--name", "myBackendCert",
		"--account", "acme", "--project", "shop", "--environment-type", "production, development", "--environment-type", "production")
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != certsPath {
		t.Fatalf("requests = %+v, want one POST %s", reqs, certsPath)
	}
	if reqs[0].Auth != "Bearer "+testKey {
		t.Errorf("Authorization = %q", reqs[0].Auth)
	}
	got := &certmgrv1.CreateCertificateRequest{}
	if err := protojson.Unmarshal(reqs[0].Body, got); err != nil {
		t.Fatal(err)
	}
	if got.GetName() != "myBackendCert" || got.GetCertificatePem() != certPEM || got.GetPrivateKeyPem() != keyPEM ||
		got.GetPrivateKeyPassphrase() != "from-env" || got.GetCa() || len(got.GetPkcs12()) != 0 {
		t.Errorf("upload = %v", got)
	}
	if types := strings.Join(got.GetEnvironmentTypes(), ","); types != "development,production" {
		t.Errorf("environment types = %q, want development,production", types)
	}
	if !strings.Contains(stdout, "Name:") || !strings.Contains(stdout, "myBackendCert") {
		t.Errorf("output does not describe the certificate:\n%s", stdout)
	}
}

func TestCreatePassphraseFlagBeatsEnv(t *testing.T) {
	dir := t.TempDir()
	p12 := writeFile(t, dir, "b.p12", "\x30\x82\x00\x01")
	f := newFakeAPI(t)
	env := f.env()
	env[EnvKeyPassphrase] = "ignored-for-p12"
	env[EnvP12Password] = "env-password"
	_, _, err := runCLI(t, env, "mtls-certificate", "create", "--p12", p12, "--p12-password", "flag-password", "--name", "myBackendCert",
		"--account", "acme", "--project", "shop", "--environment-type", "preview")
	if err != nil {
		t.Fatal(err)
	}
	got := &certmgrv1.CreateCertificateRequest{}
	if err := protojson.Unmarshal(f.requests()[0].Body, got); err != nil {
		t.Fatal(err)
	}
	if string(got.GetPkcs12()) != "\x30\x82\x00\x01" || got.GetPkcs12Password() != "flag-password" || got.GetPrivateKeyPassphrase() != "" {
		t.Errorf("upload = %v", got)
	}
}

func TestUpdateSendsTypes(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "myBackendCert", 100, "production"))
	stdout, _, err := runCLI(t, f.env(), "--output", "json", "mtls-certificate", "update", "--account", "acme", "--project", "shop",
		"--cert-id", "c1", "--environment-type", "preview,development")
	if err != nil {
		t.Fatal(err)
	}
	r := f.requests()[0]
	if r.Method != "PATCH" || r.Path != certsPath+"/c1" {
		t.Fatalf("request = %s %s", r.Method, r.Path)
	}
	got := &certmgrv1.Certificate{}
	if err := protojson.Unmarshal([]byte(stdout), got); err != nil {
		t.Fatal(err)
	}
	if types := strings.Join(got.GetEnvironmentTypes(), ","); types != "development,preview" {
		t.Errorf("environment types = %q", types)
	}
}

func TestDeletePrintsNameAndID(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "myBackendCert", 100))
	stdout, _, err := runCLI(t, f.env(), "mtls-certificate", "delete", "--account", "acme", "--project", "shop", "--cert-id", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "deleted certificate myBackendCert (c1)\n" {
		t.Errorf("stdout = %q", stdout)
	}
	if len(f.certs) != 0 {
		t.Error("certificate not deleted")
	}
}

func TestCertIDIsEscaped(t *testing.T) {
	f := newFakeAPI(t)
	_, _, err := runCLI(t, f.env(), "mtls-certificate", "disable", "--account", "acme", "--project", "shop", "--cert-id", "a/b:enable?x")
	if err == nil {
		t.Fatal("no error for an unknown id")
	}
	r := f.requests()[0]
	if want := certsPath + "/a%2Fb%3Aenable%3Fx:disable"; r.RawPath != want {
		t.Errorf("raw path = %q, want %q", r.RawPath, want)
	}
	if r.Query != "" {
		t.Errorf("query = %q, want none", r.Query)
	}
}
