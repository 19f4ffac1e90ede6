package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// binding is one HTTP rule of proto/http.yaml.
type binding struct {
	selector, method, path string
	body                   bool // body: "*"
}

// readBindings reads the rules of proto/http.yaml. The file is flat (one
// selector, one verb, an optional body and response_body per rule), and any
// other key fails the test so that a rule this reader does not understand
// cannot slip past it.
func readBindings(t *testing.T) []binding {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "..", "proto", "http.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []binding
	inRules := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "rules:" {
			inRules = true
			continue
		}
		if !inRules || line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(strings.TrimPrefix(line, "- "), ":")
		if !ok {
			t.Fatalf("http.yaml: cannot read %q", line)
		}
		value = strings.TrimSpace(value)
		if strings.HasPrefix(line, "- ") {
			if key != "selector" {
				t.Fatalf("http.yaml: a rule starts with %q, want selector", key)
			}
			out = append(out, binding{selector: value})
			continue
		}
		if len(out) == 0 {
			t.Fatalf("http.yaml: %q before the first rule", line)
		}
		b := &out[len(out)-1]
		switch key {
		case "get", "post", "patch", "put", "delete":
			if b.method != "" {
				t.Fatalf("http.yaml: %s has two verbs", b.selector)
			}
			b.method, b.path = strings.ToUpper(key), value
		case "body":
			b.body = value == `"*"`
		case "response_body":
		default:
			t.Fatalf("http.yaml: %s has %q, which this test does not read (additional_bindings?); teach it", b.selector, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("http.yaml: no rules")
	}
	return out
}

// pathValues are the values the calls below give each path variable; they
// differ so that variables put in the wrong place show.
var pathValues = map[string]string{"account": "acme-routes", "project": "shop-routes", "id": "id-routes", "webhook": "hook-routes"}

// TestCLIRoutesMatchHTTPBindings calls every operation of the CLI's client
// (api.go and the admin and api-key calls) against the real suite, with a key
// the server refuses so that nothing changes, and checks that the method,
// path and presence of a body it sends are those of the operation's binding
// in proto/http.yaml, that the REST facade routed it (no "Not Found" or
// "Method Not Allowed" of an unmatched route), that every binding has a CLI
// call or is named as one the CLI does not use, and that every exported call
// of the client is checked. The backup download (/v1/admin/backup/...) is a
// handler of the facade, not a binding: the CLI's backup tests
// (admin_backup_test.go, admin_restore_test.go) download through it.
func TestCLIRoutesMatchHTTPBindings(t *testing.T) {
	a, p, id := pathValues["account"], pathValues["project"], pathValues["id"]
	calls := map[string]func(ctx context.Context, c *Client) error{
		"certbind.certmgr.v1.CertificateService.CreateCertificate": func(ctx context.Context, c *Client) error {
			_, err := c.CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: a, Project: p, Name: "routes"})
			return err
		},
		"certbind.certmgr.v1.CertificateService.ListCertificates": func(ctx context.Context, c *Client) error {
			_, err := c.ListCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: a, Project: p})
			return err
		},
		"certbind.certmgr.v1.CertificateService.GetCertificate": func(ctx context.Context, c *Client) error {
			_, err := c.GetCertificate(ctx, a, p, id)
			return err
		},
		"certbind.certmgr.v1.CertificateService.UpdateCertificate": func(ctx context.Context, c *Client) error {
			_, err := c.UpdateCertificate(ctx, &certmgrv1.UpdateCertificateRequest{Account: a, Project: p, Id: id, EnvironmentTypes: []string{"production"}})
			return err
		},
		"certbind.certmgr.v1.CertificateService.DisableCertificate": func(ctx context.Context, c *Client) error {
			_, err := c.DisableCertificate(ctx, a, p, id)
			return err
		},
		"certbind.certmgr.v1.CertificateService.EnableCertificate": func(ctx context.Context, c *Client) error {
			_, err := c.EnableCertificate(ctx, a, p, id)
			return err
		},
		"certbind.certmgr.v1.CertificateService.DeleteCertificate": func(ctx context.Context, c *Client) error {
			_, err := c.DeleteCertificate(ctx, a, p, id)
			return err
		},
		"certbind.certmgr.v1.CertificateService.RotateCertificate": func(ctx context.Context, c *Client) error {
			_, err := c.RotateCertificate(ctx, &certmgrv1.RotateCertificateRequest{Account: a, Project: p, Id: id})
			return err
		},
		"certbind.certmgr.v1.CertificateService.ListCertificateReferences": func(ctx context.Context, c *Client) error {
			_, err := c.ListCertificateReferences(ctx, a, p, id)
			return err
		},
		"certbind.certmgr.v1.ApiKeyService.CreateApiKey": func(ctx context.Context, c *Client) error {
			_, err := c.CreateAPIKey(ctx, &certmgrv1.CreateApiKeyRequest{Account: a, Role: "no-such-role"})
			return err
		},
		"certbind.certmgr.v1.ApiKeyService.ListApiKeys": func(ctx context.Context, c *Client) error {
			_, err := c.ListAPIKeys(ctx, a)
			return err
		},
		"certbind.certmgr.v1.ApiKeyService.RevokeApiKey": func(ctx context.Context, c *Client) error {
			_, err := c.RevokeAPIKey(ctx, id)
			return err
		},
		"certbind.certmgr.v1.AuditService.ListAuditEntries": func(ctx context.Context, c *Client) error {
			_, err := c.ListAuditEntries(ctx, &certmgrv1.ListAuditEntriesRequest{Account: a, Action: "certificate.create", Since: "1h"})
			return err
		},
		"certbind.certmgr.v1.WebhookService.CreateWebhook": func(ctx context.Context, c *Client) error {
			_, err := c.CreateWebhook(ctx, &certmgrv1.CreateWebhookRequest{Account: a, Name: "routes", Url: "https://example.com/"})
			return err
		},
		"certbind.certmgr.v1.WebhookService.ListWebhooks": func(ctx context.Context, c *Client) error {
			_, err := c.ListWebhooks(ctx, a)
			return err
		},
		"certbind.certmgr.v1.WebhookService.DeleteWebhook": func(ctx context.Context, c *Client) error {
			return c.DeleteWebhook(ctx, a, pathValues["webhook"])
		},
		"certbind.certmgr.v1.WebhookService.ListWebhookDeliveries": func(ctx context.Context, c *Client) error {
			_, err := c.ListWebhookDeliveries(ctx, a, pathValues["webhook"], 10)
			return err
		},
		"certbind.certmgr.v1.MasterKeyService.RotateMasterKey": func(ctx context.Context, c *Client) error {
			_, err := c.RotateMasterKey(ctx)
			return err
		},
		"certbind.certmgr.v1.MasterKeyService.GetMasterKeyStatus": func(ctx context.Context, c *Client) error {
			_, err := c.GetMasterKeyStatus(ctx)
			return err
		},
		"certbind.certmgr.v1.VerifyService.VerifyCertificates": func(ctx context.Context, c *Client) error {
			_, err := c.VerifyCertificates(ctx)
			return err
		},
		"certbind.deploytracker.v1.DeploymentService.Deploy": func(ctx context.Context, c *Client) error {
			_, err := c.Deploy(ctx, &deploytrackerv1.DeployRequest{Account: a, Project: p, Environment: "routes"})
			return err
		},
		"certbind.deploytracker.v1.DeploymentService.ListDeployments": func(ctx context.Context, c *Client) error {
			_, err := c.ListDeployments(ctx, &deploytrackerv1.ListDeploymentsRequest{Account: a, Project: p})
			return err
		},
		"certbind.deploytracker.v1.DeploymentService.GetDeployment": func(ctx context.Context, c *Client) error {
			_, err := c.GetDeployment(ctx, a, p, id)
			return err
		},
		"certbind.deploytracker.v1.DeploymentService.DeleteDeployment": func(ctx context.Context, c *Client) error {
			_, err := c.DeleteDeployment(ctx, a, p, id)
			return err
		},
		"certbind.deploytracker.v1.VerifyService.VerifyDeployments": func(ctx context.Context, c *Client) error {
			_, err := c.VerifyDeployments(ctx)
			return err
		},
	}
	// notUsed names the bindings the CLI has no call for, on purpose.
	notUsed := []string{}

	// A key the server does not know: every call is routed by the REST
	// facade and then refused (401), so none changes the shared suite.
	rec := newRecorder(t)
	c, err := NewClient(&GlobalOptions{APIURL: rec.srv.URL, APIKey: "cbk_notakey", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	seen := map[string]bool{}
	for _, b := range readBindings(t) {
		seen[b.selector] = true
		call, ok := calls[b.selector]
		if !ok {
			if !slices.Contains(notUsed, b.selector) {
				t.Errorf("%s (%s %s) has no CLI call in this test: add the call, or name it in notUsed", b.selector, b.method, b.path)
			}
			continue
		}
		rec.reset()
		if err := call(ctx, c); err == nil || !strings.Contains(err.Error(), "--api-key") {
			t.Errorf("%s: %v, want the server's refusal of the key", b.selector, err)
		}
		reqs := rec.requests()
		if len(reqs) != 1 {
			t.Errorf("%s: %d requests, want 1", b.selector, len(reqs))
			continue
		}
		r := reqs[0]
		path := r.Path
		if r.RawPath != "" {
			path = r.RawPath
		}
		if want := expandTemplate(t, b.path); r.Method != b.method || path != want {
			t.Errorf("%s: the CLI sends %s %s, http.yaml binds %s %s", b.selector, r.Method, path, b.method, want)
		}
		if hasBody := len(r.Body) > 0; hasBody != b.body {
			t.Errorf("%s: the CLI sends a body: %v, http.yaml binds a body: %v", b.selector, hasBody, b.body)
		}
		if unrouted(r) {
			t.Errorf("%s: the REST facade did not route %s %s (answered %d)", b.selector, r.Method, path, r.Status)
		}
	}
	for sel := range calls {
		if !seen[sel] {
			t.Errorf("the CLI calls %s, which proto/http.yaml does not bind", sel)
		}
	}

	// Every exported call of the client is one of the operations above
	// (named as the RPC, with API for Api), or one that makes no request of
	// its own, so a call added to the client cannot miss this test.
	ownRequest := map[string]bool{}
	for sel := range calls {
		ownRequest[strings.ReplaceAll(sel[strings.LastIndex(sel, ".")+1:], "Api", "API")] = true
	}
	noRequestOfItsOwn := []string{"ListAllCertificates"} // pages through ListCertificates
	client := reflect.TypeFor[*Client]()
	for i := range client.NumMethod() {
		if name := client.Method(i).Name; !ownRequest[name] && !slices.Contains(noRequestOfItsOwn, name) {
			t.Errorf("Client.%s is not checked against proto/http.yaml: add it to the calls of this test", name)
		}
		delete(ownRequest, client.Method(i).Name)
	}
	for name := range ownRequest {
		t.Errorf("this test names Client.%s, which the client does not have", name)
	}
}

var templateVar = regexp.MustCompile(`\{([a-z_]+)\}`)

// expandTemplate puts pathValues into a binding's path template.
func expandTemplate(t *testing.T, tmpl string) string {
	return templateVar.ReplaceAllStringFunc(tmpl, func(m string) string {
		v, ok := pathValues[strings.Trim(m, "{}")]
		if !ok {
			t.Errorf("http.yaml path %s has the variable %s, which this test has no value for", tmpl, m)
		}
		return v
	})
}

// unrouted reports whether the answer is the REST facade's own for a
// request that matched no binding, rather than one of a service.
func unrouted(r recordedRequest) bool {
	var answer struct{ Message string }
	_ = json.Unmarshal(r.Answer, &answer)
	return r.Status == 404 && answer.Message == "Not Found" || r.Status == 405 || r.Status == 501
}
