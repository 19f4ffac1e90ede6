package suite_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/testpki"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// watchDeployments follows the suite's deployment stream from a snapshot
// and returns its changes, heartbeats left out, as they come.
func watchDeployments(t *testing.T, grpcAddr, key string) <-chan *deploytrackerv1.DeploymentChange {
	t.Helper()
	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: key}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	stream, err := deploytrackerv1.NewDeploymentDistributionServiceClient(conn).WatchDeployments(ctx, &deploytrackerv1.WatchDeploymentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for {
		m, err := stream.Recv()
		if err != nil {
			t.Fatalf("deployment stream before its snapshot ended: %v", err)
		}
		if m.GetSnapshotComplete() != nil {
			break
		}
	}
	changes := make(chan *deploytrackerv1.DeploymentChange, 100)
	go func() {
		defer close(changes)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if c := m.GetChange(); c != nil {
				changes <- c
			}
		}
	}()
	return changes
}

func nextChange(t *testing.T, changes <-chan *deploytrackerv1.DeploymentChange) *deploytrackerv1.DeploymentChange {
	t.Helper()
	select {
	case c, ok := <-changes:
		if !ok {
			t.Fatal("the deployment stream ended")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change on the deployment stream within 10s")
		return nil
	}
}

// TestDeployDryRun checks validateOnly over REST on the real suite: a good
// config answers with the deployment it would make and records nothing
// (no deployment, no reference, no generation, nothing on the stream); a
// bad one gets exactly the answer a real deploy gets; a disabled
// certificate is refused.
func TestDeployDryRun(t *testing.T) {
	const admin = "admin-0123456789abcdef0123456789abcdef"
	s := start(t, admin)
	ca := testpki.NewCA(t, "Root")
	leaf := ca.Issue(t, testpki.Options{CommonName: "gw"})
	certs := "/v1/accounts/acme/projects/shop/mtls-certificates"
	deps := "/v1/accounts/acme/projects/shop/deployments"
	r := call(t, s, admin, "POST", certs, map[string]any{"name": "myBackendCert", "environmentTypes": []string{"development", "production"},
		"certificatePem": string(leaf.CertPEM), "privateKeyPem": string(leaf.KeyPEM)})
	certID, _ := r.body["id"].(string)
	r = call(t, s, admin, "POST", certs, map[string]any{"name": "backendCa", "environmentTypes": []string{"production"}, "ca": true, "certificatePem": string(ca.CertPEM)})
	if certID == "" || r.status != 200 {
		t.Fatalf("uploads failed: %s", r.raw)
	}
	changes := watchDeployments(t, s.GRPCAddr, admin)

	body := func(dryRun bool, env, envType string, cfg map[string]any, vars map[string]string) map[string]any {
		b := map[string]any{"environment": env, "environmentType": envType, "variables": vars}
		if cfg != nil {
			b["config"] = cfg
		}
		if dryRun {
			b["validateOnly"] = true
		}
		return b
	}
	good := func(dryRun bool) map[string]any {
		return body(dryRun, "production", "production", gatewayConfig("$env(BACKEND_MTLS_CERT)", "backendCa"), map[string]string{"BACKEND_MTLS_CERT": "myBackendCert"})
	}

	// A first dry run: the plan, with no id yet and generation 1.
	r = call(t, s, admin, "POST", deps, good(true))
	if r.status != 200 || r.body["id"] != "" || r.body["generation"] != float64(1) || r.body["revision"] != "0" ||
		r.body["url"] != s.EdgeURL+"/acme/shop/production" || !strings.Contains(r.raw, certID) || !strings.Contains(r.raw, `"option":"caCertificate"`) {
		t.Fatalf("dry run: %d %s", r.status, r.raw)
	}
	if r := call(t, s, admin, "GET", deps, nil); r.raw != `{"deployments":[]}` {
		t.Fatalf("a dry run left a deployment: %s", r.raw)
	}
	if r := call(t, s, admin, "GET", certs+"/"+certID+"/references", nil); strings.Contains(r.raw, "production") {
		t.Fatalf("a dry run left a reference: %s", r.raw)
	}

	r = call(t, s, admin, "POST", deps, good(false))
	depID, _ := r.body["id"].(string)
	if r.status != 200 || depID == "" {
		t.Fatalf("deploy: %d %s", r.status, r.raw)
	}
	deployed := r.raw
	if c := nextChange(t, changes); c.GetDeploymentId() != depID || c.GetDeployment().GetGeneration() != 1 {
		t.Fatalf("first change on the stream: %v, want the deploy of %s (the dry run sent nothing)", c, depID)
	}

	// A dry run over an existing deployment names it and the generation a
	// deploy would make, and leaves it as it was.
	r = call(t, s, admin, "POST", deps, good(true))
	if r.status != 200 || r.body["id"] != depID || r.body["generation"] != float64(2) || r.body["revision"] != "0" {
		t.Fatalf("dry run over a deployment: %d %s", r.status, r.raw)
	}
	if r := call(t, s, admin, "GET", deps+"/"+depID, nil); r.raw != deployed {
		t.Fatalf("after a dry run the deployment is\n%s\nwant\n%s", r.raw, deployed)
	}

	// Bad deploys: the dry run's answer is the deploy's, word for word.
	bad := []struct {
		name     string
		body     func(dryRun bool) map[string]any
		fragment string
	}{
		{"unknown variable", func(d bool) map[string]any {
			return body(d, "production", "production", gatewayConfig("$env(BACKEND_MTLS_CERT)", ""), nil)
		}, "BACKEND_MTLS_CERT"},
		{"unknown certificate", func(d bool) map[string]any {
			return body(d, "production", "production", gatewayConfig("noSuchCert", ""), nil)
		}, `no certificate named \"noSuchCert\"`},
		{"CA as client certificate", func(d bool) map[string]any {
			return body(d, "production", "production", gatewayConfig("backendCa", ""), nil)
		}, "is a CA certificate"},
		{"type not allowed", func(d bool) map[string]any {
			return body(d, "preview", "preview", gatewayConfig("myBackendCert", ""), nil)
		}, "not allowed in preview"},
		{"bad environment", func(d bool) map[string]any {
			return body(d, "Prod Env", "production", gatewayConfig("myBackendCert", ""), nil)
		}, "environment"},
		{"no config", func(d bool) map[string]any { return body(d, "production", "production", nil, nil) }, "no gateway config"},
		{"metadata address", func(d bool) map[string]any {
			cfg := gatewayConfig("", "")
			cfg["routes"].([]any)[0].(map[string]any)["handler"].(map[string]any)["options"] = map[string]any{"baseUrl": "http://169.254.169.254/latest"}
			return body(d, "production", "production", cfg, nil)
		}, "cloud metadata"},
		{"the edge itself", func(d bool) map[string]any {
			cfg := gatewayConfig("", "")
			cfg["routes"].([]any)[0].(map[string]any)["handler"].(map[string]any)["options"] = map[string]any{"baseUrl": s.EdgeURL}
			return body(d, "production", "production", cfg, nil)
		}, "is the edge itself"},
	}
	for _, tc := range bad {
		dry := call(t, s, admin, "POST", deps, tc.body(true))
		real := call(t, s, admin, "POST", deps, tc.body(false))
		if dry.status != 400 || !strings.Contains(dry.raw, tc.fragment) {
			t.Errorf("%s: dry run answered %d %s, want 400 with %q", tc.name, dry.status, dry.raw, tc.fragment)
		}
		if dry.status != real.status || dry.raw != real.raw {
			t.Errorf("%s: dry run answered %d %s\nbut the deploy %d %s", tc.name, dry.status, dry.raw, real.status, real.raw)
		}
	}

	// A disabled certificate is refused by a dry run as by a deploy.
	if r := call(t, s, admin, "POST", certs+"/"+certID+":disable", map[string]any{}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	r = call(t, s, admin, "POST", deps, good(true))
	if r.status != 400 || !strings.Contains(r.raw, `certificate \"myBackendCert\" is disabled`) {
		t.Fatalf("dry run with a disabled certificate: %d %s", r.status, r.raw)
	}

	// Nothing reached the stream between the deploy and this delete.
	if r := call(t, s, admin, "DELETE", deps+"/"+depID, nil); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if c := nextChange(t, changes); c.GetType() != deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DELETED || c.GetDeploymentId() != depID {
		t.Fatalf("second change on the stream: %v, want the delete of %s", c, depID)
	}
}
