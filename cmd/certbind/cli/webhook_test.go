package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/services/certmgr/webhook"
)

// hookReceiver is a plain-http receiver on loopback, which certbind dev
// accepts, recording what it gets.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body [][]byte
	seen chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{seen: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got, r.body = append(r.got, req), append(r.body, b)
		r.mu.Unlock()
		r.seen <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// The webhook commands on the real suite: create prints the secret once,
// a certificate created afterwards reaches the receiver signed with it,
// list and deliveries never show it, another account's key sees nothing,
// and create and delete are in the audit trail.
func TestWebhookCommandsOnTheRealSuite(t *testing.T) {
	account := newAccount()
	env := realEnv(t)
	rcv := newHookReceiver(t)
	var created struct {
		Webhook struct{ ID, Name, URL string }
		Secret  string
	}
	out := mustRun(t, env, "webhook", "create", "--account", account, "--name", "ci", "--url", rcv.srv.URL+"/hook",
		"--event", webhook.EventCreated, "--output", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Secret == "" || created.Webhook.ID == "" {
		t.Fatalf("create printed %s (%v)", out, err)
	}
	c := createCerts(t, account, certSpec{name: "hookedCert", days: 100, types: []string{"production"}})[0]
	select {
	case <-rcv.seen:
	case <-time.After(time.Minute):
		t.Fatal("the receiver heard nothing of the new certificate")
	}
	rcv.mu.Lock()
	req, body := rcv.got[0], rcv.body[0]
	rcv.mu.Unlock()
	if !webhook.Verify([]byte(created.Secret), req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), body) {
		t.Fatalf("signature does not verify: %v %s", req.Header, body)
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Event != webhook.EventCreated || p.Certificate.ID != c.GetId() || p.Account != account {
		t.Fatalf("payload %s (%v)", body, err)
	}

	table := mustRun(t, env, "webhook", "list", "--account", account)
	if !strings.Contains(table, "ci") || !strings.Contains(table, created.Webhook.ID) {
		t.Fatalf("list:\n%s", table)
	}
	var dels []struct{ State, Event, CertificateID string }
	var deliveries string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		// The receiver answered before certmgr recorded the outcome.
		deliveries = mustRun(t, env, "webhook", "deliveries", "--account", account, "--name", "ci", "--output", "json")
		if err := json.Unmarshal([]byte(deliveries), &dels); err != nil {
			t.Fatal(err)
		}
		if len(dels) == 1 && dels[0].State == "delivered" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(dels) != 1 || dels[0].State != "delivered" || dels[0].CertificateID != c.GetId() {
		t.Fatalf("deliveries %s", deliveries)
	}
	for what, text := range map[string]string{"list": table, "deliveries": deliveries, "table": mustRun(t, env, "webhook", "deliveries", "--account", account, "--name", "ci")} {
		if strings.Contains(text, created.Secret) {
			t.Fatalf("%s shows the secret", what)
		}
	}

	other := map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: accountKey(t, env, newAccount())}
	for _, args := range [][]string{
		{"webhook", "list", "--account", account},
		{"webhook", "deliveries", "--account", account, "--name", "ci"},
		{"webhook", "delete", "--account", account, "--name", "ci"},
	} {
		if _, _, err := runCLI(t, other, args...); ExitCode(err) != 5 {
			t.Fatalf("another account's key: certbind %s: %v (exit %d), want exit 5", strings.Join(args, " "), err, ExitCode(err))
		}
	}
	_, stderr, err := runCLI(t, env, "webhook", "create", "--account", account, "--name", "metadata", "--url", "http://169.254.169.254/latest")
	if err == nil || !strings.Contains(stderr+err.Error(), "https") {
		t.Fatalf("a metadata URL was not refused: %v %s", err, stderr)
	}
	_, stderr, err = runCLI(t, env, "webhook", "create", "--account", account, "--name", "metadata", "--url", "https://169.254.169.254/latest")
	if err == nil || !strings.Contains(stderr+err.Error(), "egress policy") {
		t.Fatalf("a metadata URL was not refused: %v %s", err, stderr)
	}

	mustRun(t, env, "webhook", "delete", "--account", account, "--name", "ci")
	if table := mustRun(t, env, "webhook", "list", "--account", account); !strings.Contains(table, "no webhooks") {
		t.Fatalf("list after delete:\n%s", table)
	}
	var actions []string
	for _, e := range auditList(t, env, "--account", account) {
		if e.Resource.Kind == "webhook" {
			actions = append(actions, e.Action+" "+e.Resource.Name)
		}
	}
	if strings.Join(actions, ",") != "webhook.delete ci,webhook.create ci" {
		t.Fatalf("audit trail of webhooks: %v", actions)
	}
}

// accountKey issues an account key with the admin key.
func accountKey(t *testing.T, env map[string]string, account string) string {
	t.Helper()
	var key struct{ Key string }
	if err := json.Unmarshal([]byte(mustRun(t, env, "api-key", "create", "--account", account, "--output", "json")), &key); err != nil {
		t.Fatal(err)
	}
	return key.Key
}

// A deploy refused because the certificate it names is disabled reaches
// the account's webhook as deploy.refused, naming the certificate and the
// environment; a dry run that is refused does not.
func TestWebhookDeployRefusedOnTheRealSuite(t *testing.T) {
	account := newAccount()
	env := realEnv(t)
	rcv := newHookReceiver(t)
	var created struct{ Secret string }
	out := mustRun(t, env, "webhook", "create", "--account", account, "--name", "deploys", "--url", rcv.srv.URL,
		"--event", webhook.EventDeployRefused, "--output", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	mustRun(t, env, "mtls-certificate", "disable", "--account", account, "--project", "shop", "--cert-id", c.GetId())
	config := writeFile(t, t.TempDir(), "gateway.json", oneRouteConfig)
	deploy := []string{"deploy", "--account", account, "--project", "shop", "--environment", "prod", "--environment-type", "production", "--config", config}
	if _, _, err := runCLI(t, env, append(deploy, "--dry-run")...); err == nil {
		t.Fatal("a dry run naming a disabled certificate succeeded")
	}
	if _, _, err := runCLI(t, env, deploy...); err == nil {
		t.Fatal("a deploy naming a disabled certificate succeeded")
	}
	select {
	case <-rcv.seen:
	case <-time.After(time.Minute):
		t.Fatal("the receiver heard nothing of the refused deploy")
	}
	rcv.mu.Lock()
	req, body, n := rcv.got[0], rcv.body[0], len(rcv.got)
	rcv.mu.Unlock()
	if !webhook.Verify([]byte(created.Secret), req.Header.Get(webhook.HeaderTimestamp), req.Header.Get(webhook.HeaderSignature), body) {
		t.Fatal("signature does not verify")
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Event != webhook.EventDeployRefused || p.Certificate.ID != c.GetId() ||
		p.Certificate.Name != "myBackendCert" || p.Deploy == nil || p.Deploy.Environment != "prod" || !strings.Contains(p.Deploy.Reason, "disabled") {
		t.Fatalf("payload %s (%v)", body, err)
	}
	// The dry run came first; had it been sent, it would be the first
	// delivery, and it would say the same. The log has one delivery.
	var dels []struct{ Event string }
	if err := json.Unmarshal([]byte(mustRun(t, env, "webhook", "deliveries", "--account", account, "--name", "deploys", "--output", "json")), &dels); err != nil {
		t.Fatal(err)
	}
	if len(dels) != 1 || n != 1 {
		t.Fatalf("%d deliveries logged, %d received, want 1 each", len(dels), n)
	}
}
