package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// TestEtcdAcrossProcesses runs certmgr and the deploytracker as processes
// with --store etcd on an embedded etcd member, the REST facade and an
// edge process following their streams: a certificate created and a
// deployment made through the CLI are served by the edge, and a rotation
// reaches it. Then a second certmgr replica on the same prefix serves a
// stream on which a certificate created through the first replica appears.
func TestEtcdAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	endpoint := testetcd.Endpoint(t)
	storeFlags := []string{"--store", "etcd", "--etcd-endpoints", endpoint, "--etcd-prefix", testetcd.Prefix(t)}
	c := startClusterOn(t, storeFlags)
	dir := t.TempDir()
	must := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join(c.bin, "certbind"), args...)
		cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+c.adminKey)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	with := func(args ...string) []string { return append(args, "--account", "acme", "--project", "shop") }

	var key struct{ Key string }
	if err := json.Unmarshal([]byte(must("api-key", "create", "--account", "acme", "--role", "edge", "--output", "json")), &key); err != nil || key.Key == "" {
		t.Fatalf("edge key: %v", err)
	}
	c.edgeKey = key.Key
	c.start("edge")

	clientCA, backendCA := testpki.NewCA(t, "Client CA"), testpki.NewCA(t, "Backend CA")
	backend := e2etest.MTLSBackend(t, e2etest.ServerCert(t, backendCA), clientCA)
	leaf := func(n string) (string, string) {
		l := clientCA.Issue(t, testpki.Options{CommonName: "client-" + n})
		return file("client"+n+".pem", l.CertPEM), file("client"+n+".key", l.KeyPEM)
	}
	gateway := file("gateway.json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "mtlsCertificate": "myBackendCert", "caCertificate": "backendCa"}}}]}`))
	cert1, key1 := leaf("1")
	must(with("mtls-certificate", "create", "--cert", cert1, "--key", key1, "--name", "myBackendCert", "--environment-type", "production")...)
	must(with("mtls-certificate", "create", "--ca", "--cert", file("backend-ca.pem", backendCA.CertPEM), "--name", "backendCa", "--environment-type", "production")...)
	out := must(with("deploy", "--environment", "production", "--environment-type", "production", "--config", gateway, "--output", "json")...)
	var dep struct{ URL string }
	if err := json.Unmarshal([]byte(out), &dep); err != nil || dep.URL == "" {
		t.Fatalf("deploy: %v %s", err, out)
	}
	url := dep.URL + "/api/hello"
	e2etest.Eventually(t, url, 200, "CN=client-1")
	// A backup of a store in etcd is etcd's own snapshot; the CLI says so.
	backup := exec.Command(filepath.Join(c.bin, "certbind"), "admin", "backup", "--out", filepath.Join(dir, "backup"))
	backup.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+c.adminKey)
	if out, err := backup.CombinedOutput(); err == nil || !strings.Contains(string(out), "etcdctl snapshot save") {
		t.Errorf("admin backup on etcd: %v\n%s\nwant a refusal that points to etcd's snapshots", err, out)
	}
	// Webhooks work on etcd. This one hears only of expiry, which none of
	// the test's certificates reaches, so nothing is sent to its name.
	if out := must("webhook", "create", "--account", "acme", "--name", "onEtcd", "--url", "https://hooks.example.com/",
		"--event", "certificate.expired"); !strings.Contains(out, "whsec_") {
		t.Fatalf("webhook create on etcd printed no secret:\n%s", out)
	}
	cert2, key2 := leaf("2")
	must(with("mtls-certificate", "rotate", "--name", "myBackendCert", "--cert", cert2, "--key", key2)...)
	e2etest.Eventually(t, url, 200, "CN=client-2")

	// A second certmgr replica on the same prefix.
	second, secondAdmin := freeAddr(t), freeAddr(t)
	c.launch("certmgr2", "certmgr", second, append([]string{"--listen", second, "--admin-listen", secondAdmin,
		"--master-key-file", filepath.Join(c.dir, "master.key"), "--deploytracker-addr", c.trackerAddr}, storeFlags...))
	ctx, cancel := context.WithTimeout(c.admin(), 30*time.Second)
	defer cancel()
	stream, err := certmgrv1.NewDistributionServiceClient(c.grpc(second)).WatchCertificates(ctx, &certmgrv1.WatchCertificatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	snapshot := map[string]bool{}
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("the second replica's stream: %v", err)
		}
		if item := msg.GetSnapshotItem(); item != nil {
			snapshot[item.GetCertificate().GetName()] = true
		}
		if msg.GetSnapshotComplete() != nil {
			break
		}
	}
	if !snapshot["myBackendCert"] || !snapshot["backendCa"] {
		t.Fatalf("the second replica's snapshot holds %v, want both certificates", snapshot)
	}
	// The webhook created through the first replica is listed and
	// deleted on the second.
	hooks := certmgrv1.NewWebhookServiceClient(c.grpc(second))
	list, err := hooks.ListWebhooks(c.admin(), &certmgrv1.ListWebhooksRequest{Account: "acme"})
	if err != nil || len(list.GetWebhooks()) != 1 || list.GetWebhooks()[0].GetName() != "onEtcd" {
		t.Fatalf("the second replica lists webhooks %v (%v), want onEtcd", list.GetWebhooks(), err)
	}
	if _, err := hooks.DeleteWebhook(c.admin(), &certmgrv1.DeleteWebhookRequest{Account: "acme", Webhook: "onEtcd"}); err != nil {
		t.Fatalf("delete on the second replica: %v", err)
	}
	if out := must("webhook", "list", "--account", "acme"); strings.Contains(out, "onEtcd") {
		t.Fatalf("the webhook deleted on the second replica is still listed:\n%s", out)
	}
	cert3, key3 := leaf("3")
	must(with("mtls-certificate", "create", "--cert", cert3, "--key", key3, "--name", "otherCert", "--environment-type", "production")...)
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("the second replica's stream, waiting for the create through the first: %v", err)
		}
		ch := msg.GetChange()
		if ch == nil {
			continue
		}
		m := ch.GetMaterial()
		if ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_CREATED || m.GetCertificate().GetName() != "otherCert" || len(m.GetPrivateKeyPkcs8()) == 0 {
			t.Fatalf("the second replica streamed %v, want otherCert created with its key", ch.GetType())
		}
		break
	}

	// Every replica exports the certificate figures, read from etcd; the
	// deploytracker counts damaged deployments there too.
	for _, admin := range []string{c.certmgrAdmin, secondAdmin} {
		m := e2etest.Scrape(t, "http://"+admin+"/metrics")
		for _, w := range []struct {
			name   string
			labels map[string]string
			value  float64
		}{
			{"certbind_certificates", map[string]string{"state": "active"}, 3},
			{"certbind_certificates", map[string]string{"state": "disabled"}, 0},
			{"certbind_certificates", map[string]string{"state": "damaged"}, 0},
			{"certbind_certificate_not_after_timestamp_seconds", map[string]string{"account": "acme", "project": "shop", "name": "backendCa"}, float64(backendCA.Cert.NotAfter.Unix())},
		} {
			if got, ok := m.Value(w.name, w.labels); !ok || got != w.value {
				t.Errorf("%s: %s %v = %v (present %v), want %v", admin, w.name, w.labels, got, ok, w.value)
			}
		}
		if n := m.Series("certbind_certificate_not_after_timestamp_seconds", nil); n != 3 {
			t.Errorf("%s: %d expiry series, want 3", admin, n)
		}
	}
	if got, ok := e2etest.Scrape(t, "http://"+c.trackerAdmin+"/metrics").Value("certbind_deployments_damaged", nil); !ok || got != 0 {
		t.Errorf("certbind_deployments_damaged = %v (present %v), want 0", got, ok)
	}

	// The audit trail is kept in etcd: certmgr's and the deploytracker's
	// entries, a refused delete among them, list through the CLI.
	refusedDelete := exec.Command(filepath.Join(c.bin, "certbind"), with("mtls-certificate", "delete", "--name", "myBackendCert")...)
	refusedDelete.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+c.adminKey)
	if out, err := refusedDelete.CombinedOutput(); err == nil {
		t.Fatalf("the delete of a deployed certificate succeeded:\n%s", out)
	}
	var entries []struct {
		Action, Result, ActorKeyID string
		Resource                   struct{ Name string }
	}
	out = must("audit", "list", "--account", "acme", "--output", "json")
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	var got []string
	for _, e := range slices.Backward(entries) {
		got = append(got, e.Action+" "+e.Result+" "+e.Resource.Name)
	}
	want := []string{
		"apikey.create ok ",
		"certificate.create ok myBackendCert",
		"certificate.create ok backendCa",
		"deployment.deploy ok production",
		"webhook.create ok onEtcd",
		"certificate.rotate ok myBackendCert",
		"webhook.delete ok onEtcd",
		"certificate.create ok otherCert",
		"certificate.delete refused myBackendCert",
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit list on etcd:\n%q\nwant\n%q", got, want)
	}
}

// TestMain stops the embedded etcd member, if a test started one, after
// the tests.
func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }
