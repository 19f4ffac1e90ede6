package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidationBeforeNetwork checks that bad flags are refused with a
// message naming the flag, before any file is read or request is sent.
func TestValidationBeforeNetwork(t *testing.T) {
	dir := t.TempDir()
	cert := writeFile(t, dir, "cert.pem", "-----BEGIN CERTIFICATE-----\n")
	key := writeFile(t, dir, "key.pem", "-----BEGIN PRIVATE KEY-----\n")
	p12 := writeFile(t, dir, "backend.p12", "\x30\x82")
	huge := writeFile(t, dir, "huge.pem", strings.Repeat("x", maxInputFile+1))
	missing := filepath.Join(dir, "nope.pem")
	derCert := writeFile(t, dir, "cert.der", "\x30\x82\x01\x0a\xff")
	derKey := writeFile(t, dir, "key.der", "\x30\x81\x87")

	create := func(extra ...string) []string {
		return append([]string{"mtls-certificate", "create", "--account", "acme", "--project", "shop"}, extra...)
	}
	ok := []string{"--name", "myBackendCert", "--environment-type", "production"}
	target := func(verb string, extra ...string) []string {
		return append([]string{"mtls-certificate", verb, "--account", "acme", "--project", "shop"}, extra...)
	}
	list := func(extra ...string) []string { return target("list", extra...) }

	tests := []struct {
		name    string
		args    []string
		noKey   bool
		wantErr string
	}{
		{"create without name", create("--cert", cert, "--key", key, "--environment-type", "production"), false, "--name is required"},
		{"create with kebab name", create("--name", "my-backend-cert", "--environment-type", "production", "--cert", cert, "--key", key), false, `--name: certificate name "my-backend-cert"`},
		{"create with reserved name", create("--name", "delete", "--environment-type", "production", "--cert", cert, "--key", key), false, "--name: certificate name"},
		{"create without account", []string{"mtls-certificate", "create", "--project", "shop", "--name", "myBackendCert", "--environment-type", "production", "--cert", cert, "--key", key}, false, "--account is required"},
		{"create with bad account", []string{"mtls-certificate", "create", "--account", "Acme", "--project", "shop", "--name", "myBackendCert", "--environment-type", "production", "--cert", cert, "--key", key}, false, "--account: account"},
		{"create with bad project", []string{"mtls-certificate", "create", "--account", "acme", "--project", "my shop", "--name", "myBackendCert", "--environment-type", "production", "--cert", cert, "--key", key}, false, "--project: project"},
		{"create without environment type", create("--name", "myBackendCert", "--cert", cert, "--key", key), false, "--environment-type is required"},
		{"create with unknown environment type", create("--name", "myBackendCert", "--environment-type", "prod", "--cert", cert, "--key", key), false, `did you mean "production"`},
		{"create with unknown type in comma list", create("--name", "myBackendCert", "--environment-type", "development,staging", "--cert", cert, "--key", key), false, `"staging"`},
		{"create without material", create(ok...), false, "give the certificate with --cert and --key"},
		{"create cert without key", create(append(ok, "--cert", cert)...), false, "--key is required with --cert"},
		{"create key without cert", create(append(ok, "--key", key)...), false, "--cert is required with --key"},
		{"create p12 with cert", create(append(ok, "--p12", p12, "--cert", cert)...), false, "--p12 replaces --cert and --key"},
		{"create p12 with key", create(append(ok, "--p12", p12, "--key", key)...), false, "--p12 replaces --cert and --key"},
		{"create ca with key", create(append(ok, "--ca", "--cert", cert, "--key", key)...), false, "--ca uploads CA certificates without a key"},
		{"create ca with p12", create(append(ok, "--ca", "--p12", p12)...), false, "--ca takes the CA bundle in --cert"},
		{"create ca without cert", create(append(ok, "--ca")...), false, "--ca needs the CA bundle in --cert"},
		{"create passphrase without key", create(append(ok, "--p12", p12, "--key-passphrase", "pw")...), false, "--key-passphrase applies only to --key"},
		{"create p12 password without p12", create(append(ok, "--cert", cert, "--key", key, "--p12-password", "pw")...), false, "--p12-password applies only to --p12"},
		{"create with missing cert file", create(append(ok, "--cert", missing, "--key", key)...), false, `--cert: file "` + missing + `" not found`},
		{"create with missing key file", create(append(ok, "--cert", cert, "--key", missing)...), false, `--key: file "` + missing + `" not found`},
		{"create with directory", create(append(ok, "--cert", dir, "--key", key)...), false, "is a directory"},
		{"create with huge file", create(append(ok, "--cert", huge, "--key", key)...), false, "is 1048577 bytes, over the 1 MiB limit"},
		{"create with DER cert", create(append(ok, "--cert", derCert, "--key", key)...), false, "openssl x509 -inform der -in " + derCert},
		{"create with DER key", create(append(ok, "--cert", cert, "--key", derKey)...), false, "openssl pkey -inform der -in " + derKey},
		{"create without api key", create(append(ok, "--cert", cert, "--key", key)...), true, "no API key: set --api-key or CERTBIND_API_KEY"},

		{"list with bad state", list("--state", "enabled"), false, `--state "enabled" is not a state (use active or disabled)`},
		{"list with bad environment type", list("--environment-type", "Production"), false, "--environment-type: environment type"},
		{"list with bad expiring-within", list("--expiring-within", "soon"), false, `--expiring-within "soon"`},
		{"list with page size too large", list("--page-size", "5000"), false, "--page-size 5000 is out of range"},
		{"list with negative page size", list("--page-size", "-1"), false, "--page-size -1 is out of range"},
		{"list without project", []string{"mtls-certificate", "list", "--account", "acme"}, false, "--project is required"},
		{"list without api key", list(), true, "no API key"},
		{"list with stray argument", list("extra"), false, `unexpected argument "extra"`},
		{"list with unknown flag", list("--colour"), false, "unknown flag: --colour"},

		{"describe without target", target("describe"), false, "give the certificate with --cert-id ID or --name NAME"},
		{"describe with id and name", target("describe", "--cert-id", "c1", "--name", "myBackendCert"), false, "give either --cert-id or --name, not both"},
		{"disable with bad name", target("disable", "--name", "my backend"), false, "--name: certificate name"},
		{"enable without account", []string{"mtls-certificate", "enable", "--project", "shop", "--cert-id", "c1"}, false, "--account is required"},
		{"delete without target", target("delete"), false, "--cert-id ID or --name NAME"},
		{"update without environment type", target("update", "--cert-id", "c1"), false, "--environment-type is required"},
		{"update with only blank types", target("update", "--cert-id", "c1", "--environment-type", " , "), false, "--environment-type is required"},
		{"update with unknown type", target("update", "--cert-id", "c1", "--environment-type", "qa"), false, `environment type "qa" is not known`},

		{"api-key without account", []string{"api-key", "create"}, false, "--account is required"},
		{"api-key with bad role", []string{"api-key", "create", "--account", "acme", "--role", "admin"}, false, `--role "admin" is not a role (use account or edge)`},
		{"api-key with bad account", []string{"api-key", "create", "--account", "ACME"}, false, "--account: account"},
		{"api-key limit without edge role", []string{"api-key", "create", "--account", "acme", "--project", "shop"}, false, "limit edge keys only"},
		{"api-key with bad project", []string{"api-key", "create", "--account", "acme", "--role", "edge", "--project", "Shop"}, false, "--project: project"},
		{"api-key with bad environment type", []string{"api-key", "create", "--account", "acme", "--role", "edge", "--environment-type", "staging"}, false, "staging"},

		{"bad output format", append([]string{"--output", "yaml"}, list()...), false, `invalid argument "yaml" for "--output" flag: use table or json`},
		{"bad output after subcommand", list("--output", "xml"), false, `"--output" flag: use table or json`},
		{"unknown subcommand", []string{"mtls-certificate", "rotat"}, false, `unknown command "rotat" for "certbind mtls-certificate"`},
		{"bad timeout", append([]string{"--timeout", "0s"}, list()...), false, "--timeout 0s must be positive"},
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

func TestBadAPIURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://example.com", "http://", "http://host/?x=1"} {
		t.Run(u, func(t *testing.T) {
			_, _, err := runCLI(t, map[string]string{EnvAPIKey: testKey}, "--api-url", u,
				"mtls-certificate", "list", "--account", "acme", "--project", "shop")
			if err == nil || !strings.Contains(err.Error(), "--api-url") {
				t.Errorf("error = %v, want one about --api-url", err)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
