package httpbench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// startEdge runs `certbind dev` as its own process, as nginx and Caddy run
// as theirs (sharing this process with the backend and the load generator
// would put the edge on their scheduler and garbage collector), with a fresh
// store in the work directory; uploads the client certificate and the
// backend's CA through the REST API, and deploys a route that forwards /api/*
// to the backend with both, as a user would.
func startEdge(ctx context.Context, e *env) (t target, stop func() error, err error) {
	bin := filepath.Join(e.dir, "certbind-bin")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/certbind/certbind/cmd/certbind").CombinedOutput(); err != nil {
		return t, nil, fmt.Errorf("build certbind: %v\n%s", err, out)
	}
	return runEdge(ctx, e, bin, filepath.Join(e.dir, "certbind"))
}

// baselineStarter returns the starter of SetupBaseline: the edge of
// revision rev, exported with git archive into the work directory (the
// repository's work tree and branches are left alone) and built there.
func baselineStarter(rev string) starter {
	return func(ctx context.Context, e *env) (target, func() error, error) {
		bin, err := buildRevision(ctx, rev, filepath.Join(e.dir, "baseline"))
		if err != nil {
			return target{}, nil, err
		}
		return runEdge(ctx, e, bin, filepath.Join(e.dir, "certbind-baseline"))
	}
}

// buildRevision builds cmd/certbind as it was at rev, in dir.
func buildRevision(ctx context.Context, rev, dir string) (string, error) {
	top, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("baseline %s: find the repository (run the bench inside it): %w", rev, err)
	}
	root := strings.TrimSpace(string(top))
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", "--quiet", rev+"^{commit}").CombinedOutput(); err != nil {
		return "", fmt.Errorf("baseline %q is not a commit of %s: %v %s", rev, root, err, bytes.TrimSpace(out))
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", rev)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	untar.Stdin = pipe
	var archErr, untarErr bytes.Buffer
	archive.Stderr, untar.Stderr = &archErr, &untarErr
	if err := untar.Start(); err != nil {
		return "", fmt.Errorf("baseline %s: tar: %w", rev, err)
	}
	if err := archive.Run(); err != nil {
		untar.Wait()
		return "", fmt.Errorf("baseline %s: git archive: %v %s", rev, err, bytes.TrimSpace(archErr.Bytes()))
	}
	if err := untar.Wait(); err != nil {
		return "", fmt.Errorf("baseline %s: tar: %v %s", rev, err, bytes.TrimSpace(untarErr.Bytes()))
	}
	bin := filepath.Join(dir, "certbind-bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/certbind")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("baseline %s: build certbind: %v\n%s", rev, err, out)
	}
	return bin, nil
}

// runEdge runs `certbind dev` from bin with its store in dataDir and
// deploys the bench's route on it.
func runEdge(ctx context.Context, e *env, bin, dataDir string) (t target, stop func() error, err error) {
	if err := os.RemoveAll(dataDir); err != nil {
		return t, nil, fmt.Errorf("clear %s: %w", dataDir, err)
	}
	key := make([]byte, 16)
	rand.Read(key)
	adminKey := "httpbench-" + hex.EncodeToString(key)
	rest, err := freePort()
	if err != nil {
		return t, nil, err
	}
	args := []string{"dev", "--data-dir", dataDir,
		"--http-addr", rest, "--grpc-addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0", "--edge-admin-addr", "127.0.0.1:0"}
	// A baseline built from before --metrics-addr has no such flag (nor
	// the listener); a later one must not take the fixed default port.
	if help, _ := exec.Command(bin, "dev", "--help").CombinedOutput(); strings.Contains(string(help), "--metrics-addr") {
		args = append(args, "--metrics-addr", "127.0.0.1:0")
	}
	p, err := startProcess(filepath.Base(dataDir), e.dir, []string{"CERTBIND_API_KEY=" + adminKey}, bin, args...)
	if err != nil {
		return t, nil, err
	}
	stop = p.stop
	defer func() {
		// The error returns set stop to nil: stop the process itself.
		if err != nil {
			p.stop()
		}
	}()
	if err := waitHealthy(ctx, "http://"+rest+"/healthz", 30*time.Second, p); err != nil {
		return t, nil, err
	}

	api := restClient{base: "http://" + rest + "/v1/accounts/bench/projects/http", key: adminKey}
	if _, err := api.post(ctx, "/mtls-certificates", map[string]any{"name": "backendCa", "ca": true,
		"environmentTypes": []string{"production"}, "certificatePem": string(e.pki.backendCA.CertPEM)}); err != nil {
		return t, nil, fmt.Errorf("upload the backend CA: %w", err)
	}
	if _, err := api.post(ctx, "/mtls-certificates", map[string]any{"name": "benchClient",
		"environmentTypes": []string{"production"}, "certificatePem": string(e.pki.client.CertPEM),
		"privateKeyPem": string(e.pki.client.KeyPEM)}); err != nil {
		return t, nil, fmt.Errorf("upload the client certificate: %w", err)
	}
	gateway := map[string]any{"routes": []any{map[string]any{"path": "/api/*", "handler": map[string]any{
		"export":  "UrlForwardHandler",
		"options": map[string]any{"baseUrl": "https://" + e.backend.addr, "mtlsCertificate": "benchClient", "caCertificate": "backendCa"},
	}}}}
	dep, err := api.post(ctx, "/deployments", map[string]any{"environment": "bench", "environmentType": "production", "config": gateway})
	if err != nil {
		return t, nil, fmt.Errorf("deploy: %w", err)
	}
	depURL, _ := dep["url"].(string)
	u, err := url.Parse(depURL)
	if err != nil || u.Host == "" {
		return t, nil, fmt.Errorf("deploy answered url %q, which is not where the edge serves the deployment", depURL)
	}
	t = target{addr: u.Host, prefix: u.EscapedPath() + "/api", pid: p.cmd.Process.Pid}
	// The deployment reaches the edge through its streams, shortly after
	// the deploy call returns.
	if err := waitReady(ctx, t, 15*time.Second, nil); err != nil {
		return t, nil, fmt.Errorf("the edge does not serve the deployment: %w", err)
	}
	return t, stop, nil
}

// restClient calls the REST facade with the admin key.
type restClient struct{ base, key string }

func (c restClient) post(ctx context.Context, path string, body any) (map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(raw))
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("POST %s: answer is not a JSON object: %w", path, err)
	}
	return out, nil
}

// waitHealthy polls url until it answers 200, p exits, or the time is up.
func waitHealthy(ctx context.Context, url string, within time.Duration, p *process) error {
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("certbind dev exited: %v\n%s", p.err, p.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("certbind dev did not answer %s within %s:\n%s", url, within, p.tail())
		}
	}
}
