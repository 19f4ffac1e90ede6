package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/testpkcs12"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// TestRotateValidationBeforeNetwork checks that bad rotate flags and files
// are refused with a message naming the flag, before any request is sent:
// the server fails the test if it is called at all.
func TestRotateValidationBeforeNetwork(t *testing.T) {
	dir := t.TempDir()
	cert := writeFile(t, dir, "cert.pem", "-----BEGIN CERTIFICATE-----\n")
	key := writeFile(t, dir, "key.pem", "-----BEGIN PRIVATE KEY-----\n")
	p12 := writeFile(t, dir, "renewed.p12", "\x30\x82")
	missing := filepath.Join(dir, "nope.pem")
	empty := writeFile(t, dir, "empty.pem", "")
	derCert := writeFile(t, dir, "cert.der", "\x30\x82\x01\x0a\xff")
	derKey := writeFile(t, dir, "key.der", "\x30\x81\x87")

	rotate := func(extra ...string) []string {
		return append([]string{"mtls-certificate", "rotate", "--account", "acme", "--project", "shop"}, extra...)
	}
	// --name makes rotate look the id up first, so a file error seen with
	// it was found before that request too.
	byName := func(extra ...string) []string {
		return rotate(append([]string{"--name", "myBackendCert"}, extra...)...)
	}

	tests := []struct {
		name    string
		args    []string
		noKey   bool
		wantErr string
	}{
		{"without target", rotate("--cert", cert, "--key", key), false, "give the certificate with --cert-id ID or --name NAME"},
		{"with id and name", rotate("--cert-id", "c1", "--name", "myBackendCert", "--cert", cert, "--key", key), false, "give either --cert-id or --name, not both"},
		{"with bad name", rotate("--name", "my-backend-cert", "--cert", cert, "--key", key), false, `--name: certificate name "my-backend-cert"`},
		{"without account", []string{"mtls-certificate", "rotate", "--project", "shop", "--cert-id", "c1", "--cert", cert, "--key", key}, false, "--account is required"},
		{"without material", byName(), false, "give the certificate with --cert and --key"},
		{"cert without key", byName("--cert", cert), false, "--key is required with --cert"},
		{"key without cert", byName("--key", key), false, "--cert is required with --key"},
		{"p12 with cert", byName("--p12", p12, "--cert", cert), false, "--p12 replaces --cert and --key"},
		{"ca with key", byName("--ca", "--cert", cert, "--key", key), false, "--ca uploads CA certificates without a key"},
		{"ca with p12", byName("--ca", "--p12", p12), false, "--ca takes the CA bundle in --cert"},
		{"ca without cert", byName("--ca"), false, "--ca needs the CA bundle in --cert"},
		{"passphrase without key", byName("--p12", p12, "--key-passphrase", "pw"), false, "--key-passphrase applies only to --key"},
		{"p12 password without p12", byName("--cert", cert, "--key", key, "--p12-password", "pw"), false, "--p12-password applies only to --p12"},
		{"missing cert file", byName("--cert", missing, "--key", key), false, `--cert: file "` + missing + `" not found`},
		{"directory as key", byName("--cert", cert, "--key", dir), false, "is a directory"},
		{"empty cert file", byName("--cert", empty, "--key", key), false, "is empty"},
		{"DER cert", byName("--cert", derCert, "--key", key), false, "openssl x509 -inform der -in " + derCert},
		{"DER key", byName("--cert", cert, "--key", derKey), false, "openssl pkey -inform der -in " + derKey},
		{"environment type is not rotated", byName("--cert", cert, "--key", key, "--environment-type", "production"), false, "unknown flag: --environment-type"},
		{"stray argument", byName("--cert", cert, "--key", key, "extra"), false, `unexpected argument "extra"`},
		{"without api key", byName("--cert", cert, "--key", key), true, "no API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{EnvAPIURL: offlineServer(t), EnvAPIKey: testKey}
			if tt.noKey {
				delete(env, EnvAPIKey)
			}
			stdout, _, err := runCLI(t, env, tt.args...)
			if err == nil {
				t.Fatalf("certbind %s: no error, want one containing %q", strings.Join(tt.args, " "), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing on error", stdout)
			}
		})
	}
}

// TestRotateSendsMaterial rotates certificates on the real suite: a client
// certificate by name with an encrypted key whose passphrase comes from the
// environment, a CA alone, and a PKCS#12 file with its password; the server
// takes each only if what it needs arrived.
func TestRotateSendsMaterial(t *testing.T) {
	dir := t.TempDir()
	account := newAccount()
	certs := createCerts(t, account, certSpec{name: "otherCert", days: 100, types: []string{"production"}},
		certSpec{name: "myBackendCert", days: 100, types: []string{"production"}},
		certSpec{name: "backendCa", days: 100, types: []string{"production"}, ca: true})
	ca := testpki.NewCA(t, "Renewal CA")
	renewed := ca.Issue(t, testpki.Options{CommonName: "myBackendCert-2"})
	certPEM, keyPEM := string(renewed.CertPEM), string(renewed.EncryptedKeyPEM(t, "from-env"))
	cert := writeFile(t, dir, "cert.pem", certPEM)
	key := writeFile(t, dir, "key.pem", keyPEM)
	rec := newRecorder(t)
	env := rec.env()
	env[EnvKeyPassphrase] = "from-env"

	stdout, _, err := runCLI(t, env, "mtls-certificate", "rotate", "--account", account, "--project", "shop",
		"--name", "myBackendCert", "--cert", cert, "--key", key)
	if err != nil {
		t.Fatal(err)
	}
	id := certs[1].GetId()
	reqs := rec.requests()
	if len(reqs) != 2 || reqs[0].Method != "GET" || reqs[0].Query != "name=myBackendCert" {
		t.Fatalf("requests = %+v, want a lookup by name, then the rotation", reqs)
	}
	if r, path := reqs[1], certsPathOf(account)+"/"+id+":rotate"; r.Method != "POST" || r.Path != path {
		t.Fatalf("rotation request = %s %s, want POST %s", r.Method, r.Path, path)
	}
	got := &certmgrv1.RotateCertificateRequest{}
	if err := protojson.Unmarshal(reqs[1].Body, got); err != nil {
		t.Fatal(err)
	}
	if got.GetId() != id || got.GetCertificatePem() != certPEM || got.GetPrivateKeyPem() != keyPEM ||
		got.GetPrivateKeyPassphrase() != "from-env" || len(got.GetPkcs12()) != 0 || got.GetPkcs12Password() != "" {
		t.Errorf("rotation = %v", got)
	}
	stored, err := adminClient(t).GetCertificate(t.Context(), account, "shop", id)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^Version:\s+2$`).MatchString(stdout) || !strings.Contains(stdout, stored.GetFingerprintSha256()) ||
		stored.GetFingerprintSha256() == certs[1].GetFingerprintSha256() {
		t.Errorf("output does not show the new version and fingerprint %s:\n%s", stored.GetFingerprintSha256(), stdout)
	}

	// A CA bundle goes alone, and so does a PKCS#12 file with its password.
	newCA := writeFile(t, dir, "ca.pem", string(testpki.NewCA(t, "backendCa-2").CertPEM))
	bundle := testpkcs12.Encode(t, ca.Issue(t, testpki.Options{CommonName: "otherCert-2"}), []*testpki.Cert{ca}, "pw")
	p12 := writeFile(t, dir, "renewed.p12", string(bundle))
	for _, tc := range []struct {
		id   string
		args []string
	}{{certs[2].GetId(), []string{"--ca", "--cert", newCA}}, {certs[0].GetId(), []string{"--p12", p12, "--p12-password", "pw"}}} {
		out, _, err := runCLI(t, env, append([]string{"mtls-certificate", "rotate", "--account", account, "--project", "shop", "--cert-id", tc.id}, tc.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^Version:\s+2$`).MatchString(out) {
			t.Errorf("rotate %v: not at version 2:\n%s", tc.args, out)
		}
		reqs := rec.requests()
		got := &certmgrv1.RotateCertificateRequest{}
		if err := protojson.Unmarshal(reqs[len(reqs)-1].Body, got); err != nil {
			t.Fatal(err)
		}
		if tc.args[0] == "--ca" && (!strings.Contains(got.GetCertificatePem(), "BEGIN CERTIFICATE") || got.GetPrivateKeyPem() != "" || len(got.GetPkcs12()) != 0) {
			t.Errorf("CA rotation = %v", got)
		}
		if tc.args[0] == "--p12" && (string(got.GetPkcs12()) != string(bundle) || got.GetPkcs12Password() != "pw" || got.GetCertificatePem() != "" || got.GetPrivateKeyPassphrase() != "") {
			t.Errorf("PKCS#12 rotation = %v", got)
		}
	}
}

// TestRotateEndToEnd rotates a certificate through the CLI against the real
// suite: the same id and name come back at version 2 with the new leaf, and
// a rotation the server refuses leaves it that way.
func TestRotateEndToEnd(t *testing.T) {
	env := startSuite(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "Demo Client CA")
	old := ca.Issue(t, testpki.Options{CommonName: "shop-gateway"})
	renewed := ca.Issue(t, testpki.Options{CommonName: "shop-gateway-2025"})
	stranger := testpki.NewCA(t, "Other CA").Issue(t, testpki.Options{CommonName: "stranger"})
	scope := []string{"--account", "acme", "--project", "shop"}
	with := func(args ...string) []string { return append(args, scope...) }

	out := mustRun(t, env, with("mtls-certificate", "create", "--cert", writeFile(t, dir, "old.pem", string(old.CertPEM)),
		"--key", writeFile(t, dir, "old.key", string(old.KeyPEM)), "--name", "myBackendCert", "--environment-type", "production", "--output", "json")...)
	var created map[string]any
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	id, _ := created["id"].(string)

	renewedCert := writeFile(t, dir, "renewed.pem", string(renewed.CertPEM))
	out = mustRun(t, env, with("mtls-certificate", "rotate", "--name", "myBackendCert", "--cert", renewedCert,
		"--key", writeFile(t, dir, "renewed.key", string(renewed.KeyPEM)))...)
	version2 := regexp.MustCompile(`(?m)^Version:\s+2$`)
	for _, want := range []string{id, "myBackendCert", "CN=shop-gateway-2025", "active"} {
		if !strings.Contains(out, want) {
			t.Fatalf("rotate output lacks %q:\n%s", want, out)
		}
	}
	if !version2.MatchString(out) {
		t.Fatalf("rotate output does not show Version: 2:\n%s", out)
	}

	// A key that is not the certificate's is refused, with the reason, and
	// the certificate stays at version 2.
	_, _, err := runCLI(t, env, with("mtls-certificate", "rotate", "--cert-id", id, "--cert", renewedCert,
		"--key", writeFile(t, dir, "stranger.key", string(stranger.KeyPEM)))...)
	if err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Fatalf("mismatched key: %v", err)
	}
	out = mustRun(t, env, with("mtls-certificate", "describe", "--cert-id", id)...)
	if !version2.MatchString(out) || !strings.Contains(out, "CN=shop-gateway-2025") || !strings.Contains(out, "Name:") {
		t.Fatalf("describe after rotate:\n%s", out)
	}
}
