package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

func bearer(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

// cli runs the certbind binary against the cluster's REST facade with key.
func (c *cluster) cli(key string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.bin, "certbind"), args...)
	cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+c.restURL, "CERTBIND_API_KEY="+key)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type issuedKey struct {
	Key, ID string
}

func (c *cluster) createKey(args ...string) issuedKey {
	c.t.Helper()
	out, err := c.cli(c.adminKey, append([]string{"api-key", "create", "--output", "json"}, args...)...)
	if err != nil {
		c.t.Fatalf("api-key create: %v\n%s", err, out)
	}
	var k issuedKey
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" || k.ID == "" {
		c.t.Fatalf("api-key create printed %q (%v)", out, err)
	}
	return k
}

// ended reads a stream until it fails, in the background, and sends the
// error and when it came.
type ended struct {
	err error
	at  time.Time
}

func recvUntilError(recv func() error) <-chan ended {
	ch := make(chan ended, 1)
	go func() {
		for {
			if err := recv(); err != nil {
				ch <- ended{err, time.Now()}
				return
			}
		}
	}()
	return ch
}

// refusedWithin calls try until it fails Unauthenticated, and returns how
// long that took; it fails the test after limit.
func refusedWithin(t *testing.T, what string, start time.Time, limit time.Duration, try func() error) time.Duration {
	t.Helper()
	for {
		err := try()
		if err != nil && status.Code(err) == codes.Unauthenticated {
			if !strings.Contains(err.Error(), "expired or was revoked") {
				t.Fatalf("%s refused the revoked key with %v, want it to say the key expired or was revoked", what, err)
			}
			return time.Since(start)
		}
		if err != nil && status.Code(err) != codes.OK {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s still accepts the revoked key %v after the revocation", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAPIKeyRevocationAcrossProcesses revokes keys while certmgr, the
// deploytracker and the REST facade run as separate processes: an edge
// key's open streams on certmgr and on the deploytracker end within a
// second, an account key is refused by every service within a second, and
// the revocation survives kill -9 of certmgr right after it was answered.
func TestAPIKeyRevocationAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	cm, dt := c.grpc(c.certmgrAddr), c.grpc(c.trackerAddr)
	edge := c.createKey("--account", "acme", "--role", "edge", "--name", "edge-eu-1")
	team := c.createKey("--account", "acme", "--name", "team")
	keep := c.createKey("--account", "acme", "--name", "keep")

	certStream, err := certmgrv1.NewDistributionServiceClient(cm).WatchCertificates(bearer(edge.Key), &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certStream.Recv(); err != nil {
		t.Fatalf("certmgr stream: %v", err)
	}
	depStream, err := deploytrackerv1.NewDeploymentDistributionServiceClient(dt).WatchDeployments(bearer(edge.Key), &deploytrackerv1.WatchDeploymentsRequest{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := depStream.Recv(); err != nil {
		t.Fatalf("deploytracker stream: %v", err)
	}
	certEnded := recvUntilError(func() error { _, err := certStream.Recv(); return err })
	depEnded := recvUntilError(func() error { _, err := depStream.Recv(); return err })

	onCertmgr := func(key string) func() error {
		return func() error {
			_, err := certmgrv1.NewCertificateServiceClient(cm).ListCertificates(bearer(key), &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"})
			return err
		}
	}
	onTracker := func(key string) func() error {
		return func() error {
			_, err := deploytrackerv1.NewDeploymentServiceClient(dt).ListDeployments(bearer(key), &deploytrackerv1.ListDeploymentsRequest{Account: "acme", Project: "shop"})
			return err
		}
	}
	onREST := func(key string) func() error {
		return func() error {
			req, _ := http.NewRequest(http.MethodGet, c.restURL+"/v1/accounts/acme/projects/shop/mtls-certificates", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var body struct{ Message string }
			json.NewDecoder(resp.Body).Decode(&body)
			switch resp.StatusCode {
			case http.StatusOK:
				return nil
			case http.StatusUnauthorized:
				return status.Error(codes.Unauthenticated, body.Message)
			}
			return status.Errorf(codes.Unknown, "HTTP %d: %s", resp.StatusCode, body.Message)
		}
	}
	// The deploytracker caches the answers it got from certmgr: warm it.
	for _, try := range []func() error{onCertmgr(team.Key), onTracker(team.Key), onREST(team.Key)} {
		if err := try(); err != nil {
			t.Fatalf("the team key before revocation: %v", err)
		}
	}

	// Revoke the edge key over REST, timing from the request.
	start := time.Now()
	req, _ := http.NewRequest(http.MethodPost, c.restURL+"/v1/api-keys/"+edge.ID+":revoke", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+c.adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var revoked struct{ State string }
	json.NewDecoder(resp.Body).Decode(&revoked)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || revoked.State != "revoked" {
		t.Fatalf("POST :revoke answered %d, state %q", resp.StatusCode, revoked.State)
	}
	for name, ch := range map[string]<-chan ended{"certmgr's WatchCertificates": certEnded, "the deploytracker's WatchDeployments": depEnded} {
		select {
		case e := <-ch:
			took := e.at.Sub(start)
			if status.Code(e.err) != codes.Unauthenticated || !strings.Contains(e.err.Error(), "revoked") {
				t.Fatalf("%s ended with %v, want Unauthenticated saying the key was revoked", name, e.err)
			}
			t.Logf("%s ended %v after the revoke request", name, took)
			if took > time.Second {
				t.Fatalf("%s ended %v after the revoke request, want under 1s", name, took)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s is still open 5s after the revocation", name)
		}
	}

	// Revoke the team key with the CLI; every service refuses it within 1s.
	start = time.Now()
	if out, err := c.cli(c.adminKey, "api-key", "revoke", "--id", team.ID); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("api-key revoke: %v\n%s", err, out)
	}
	for name, try := range map[string]func() error{"certmgr": onCertmgr(team.Key), "the deploytracker": onTracker(team.Key), "REST": onREST(team.Key)} {
		took := refusedWithin(t, name, start, time.Second, try)
		t.Logf("%s refused the revoked key %v after the revoke command began", name, took)
	}
	// The revocation was acknowledged, so it is on disk: kill -9 loses it
	// not, and the deploytracker, which follows certmgr's revocations,
	// keeps refusing the keys while certmgr is down and after it is back.
	c.kill9("certmgr")
	if err := onTracker(team.Key)(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the deploytracker with certmgr down: %v, want the revoked key refused", err)
	}
	c.start("certmgr")
	restarted := time.Now()
	for name, try := range map[string]func() error{"certmgr": onCertmgr(team.Key), "the deploytracker": onTracker(team.Key), "REST": onREST(team.Key)} {
		refusedWithin(t, name+" after certmgr's restart", restarted, 5*time.Second, try)
	}
	tracker := deploytrackerv1.NewDeploymentDistributionServiceClient(dt)
	refusedWithin(t, "the deploytracker's WatchDeployments after certmgr's restart", restarted, 5*time.Second, func() error {
		s, err := tracker.WatchDeployments(bearer(edge.Key), &deploytrackerv1.WatchDeploymentsRequest{Account: "acme"})
		if err == nil {
			_, err = s.Recv()
		}
		return err
	})
	for _, try := range []func() error{onCertmgr(keep.Key), onTracker(keep.Key), onREST(keep.Key)} {
		if err := try(); err != nil {
			t.Fatalf("a key nobody revoked: %v", err)
		}
	}

	// The listing shows both revoked, and no secret.
	out, err := c.cli(c.adminKey, "api-key", "list", "--account", "acme", "--output", "json")
	if err != nil {
		t.Fatalf("api-key list: %v\n%s", err, out)
	}
	var keys []struct{ ID, Name, State string }
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	states := map[string]string{}
	for _, k := range keys {
		states[k.Name] = k.State
	}
	if states["edge-eu-1"] != "revoked" || states["team"] != "revoked" || states["keep"] != "active" {
		t.Fatalf("states after revocation: %v\n%s", states, out)
	}
	for _, k := range []issuedKey{edge, team, keep} {
		if strings.Contains(out, k.Key) {
			t.Fatalf("the listing holds a secret:\n%s", out)
		}
	}
	// An account key may not revoke another account's key.
	globex := c.createKey("--account", "globex")
	if out, err := c.cli(keep.Key, "api-key", "revoke", "--id", globex.ID); err == nil || !strings.Contains(out, "no API key with that id") {
		t.Fatalf("acme's key revoking globex's: %v\n%s", err, out)
	}
	if out, err := c.cli(keep.Key, "api-key", "list", "--account", "globex"); err == nil || !strings.Contains(out, "globex") {
		t.Fatalf("acme's key listing globex's keys: %v\n%s", err, out)
	}
}

// TestRevokedEdgeKeyEndsEdgeStreams runs a real edge process on its own
// edge key and revokes the key: both of the edge's streams (certificates
// from certmgr, deployments from the deploytracker) end within a second,
// and its log says why.
func TestRevokedEdgeKeyEndsEdgeStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	c := startCluster(t)
	edge := c.createKey("--account", "acme", "--role", "edge", "--name", "edge-1")
	c.edgeKey = edge.Key
	c.start("edge")
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + c.edgeAdminAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the edge did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	logFile := filepath.Join(c.dir, "edge.log")
	revokedLines := func() int {
		b, _ := os.ReadFile(logFile)
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "stream ended") && strings.Contains(l, "revoked") {
				n++
			}
		}
		return n
	}
	status := func() int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+c.edgeAdminAddr+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+edge.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status(); code != http.StatusOK {
		t.Fatalf("GET /v1/status with the edge's key before revocation: %d", code)
	}
	if n := revokedLines(); n != 0 {
		t.Fatalf("the edge logged %d revoked streams before any revocation", n)
	}
	start := time.Now()
	if out, err := c.cli(c.adminKey, "api-key", "revoke", "--id", edge.ID); err != nil {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	for revokedLines() < 2 {
		if time.Since(start) > time.Second {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("1s after the revoke command began, the edge's log does not show both streams ended by the revocation:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("both of the edge's streams ended within %v of the revoke command starting", time.Since(start))
	// The edge's status page, which its own key reads, refuses it too.
	if code := status(); code != http.StatusUnauthorized {
		t.Fatalf("GET /v1/status with the revoked edge key: %d, want 401", code)
	}
}
