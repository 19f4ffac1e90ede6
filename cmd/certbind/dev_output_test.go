package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// devOutput is a running `certbind dev`: its banner on stdout and its log
// lines on stderr, as far as they have come.
type devOutput struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	banner bytes.Buffer
	logs   bytes.Buffer
	ready  chan struct{}
}

func (d *devOutput) stderr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// runDevIn starts the real `certbind dev` binary with its working directory
// in wd and waits for the banner's last line.
func runDevIn(t *testing.T, bin, wd, dataDir string, extra ...string) *devOutput {
	t.Helper()
	d := &devOutput{ready: make(chan struct{})}
	args := append([]string{"dev", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--edge-admin-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, extra...)
	d.cmd = exec.Command(bin, args...)
	d.cmd.Dir = wd
	d.cmd.Env = append(os.Environ(), "CERTBIND_API_KEY=")
	d.cmd.Stderr = lockedWriter{&d.mu, &d.logs}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Kill(); d.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.mu.Lock()
			d.banner.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "Logs go to stderr.") {
				close(d.ready)
			}
		}
	}()
	select {
	case <-d.ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("certbind dev printed no banner within 30s; stderr:\n%s", d.stderr())
	}
	return d
}

// pastedEnv is the environment a user gets by pasting the banner's
// export lines into a shell (the values the banner prints need no
// unquoting here: they are URLs and keys).
func pastedEnv(t *testing.T, banner string) []string {
	t.Helper()
	env := os.Environ()
	for _, m := range regexp.MustCompile(`(?m)^  export (CERTBIND_[A-Z_]+)=(\S+)$`).FindAllStringSubmatch(banner, -1) {
		env = append(env, m[1]+"="+m[2])
	}
	return env
}

func get(t *testing.T, url string) { getBody(t, url) }

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestDevOutput runs the real `certbind dev` from the root of this checkout,
// as the README does: the banner says how to build the CLI and prints
// export lines that work when pasted; logs are JSON when stderr is not a
// terminal and readable text with --log-format text, durations in units,
// and health checks are not logged.
func TestDevOutput(t *testing.T) {
	bin := buildCLI(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data")

	dev := runDevIn(t, bin, root, data)
	banner := dev.banner.String()
	for _, want := range []string{
		"go build -o bin/certbind ./cmd/certbind\n  export PATH=\"$PWD/bin:$PATH\"\n",
		"go run ./cmd/certbind",
		"  export CERTBIND_API_KEY=cbk_",
		"  export CERTBIND_ACCOUNT=acme\n  export CERTBIND_PROJECT=shop\n",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	restURL := regexp.MustCompile(`(?m)^  export CERTBIND_API_URL=(\S+)$`).FindStringSubmatch(banner)
	if restURL == nil {
		t.Fatalf("banner has no CERTBIND_API_URL export:\n%s", banner)
	}
	// The banner says where the control plane's metrics are.
	metrics := regexp.MustCompile(`(?m)^  metrics +(http://127\.0\.0\.1:\d+/metrics) `).FindStringSubmatch(banner)
	if metrics == nil {
		t.Errorf("banner has no metrics line:\n%s", banner)
	} else if body := getBody(t, metrics[1]); !strings.Contains(body, "certbind_certificates{") {
		t.Errorf("%s does not serve certmgr's metrics:\n%.500s", metrics[1], body)
	}
	// The pasted lines are all the CLI needs.
	list := exec.Command(bin, "mtls-certificate", "list", "--account", "acme", "--project", "shop")
	list.Env = pastedEnv(t, banner)
	if out, err := list.CombinedOutput(); err != nil {
		t.Fatalf("the CLI with the banner's exports: %v\n%s", err, out)
	}

	for range 3 {
		get(t, restURL[1]+"/healthz")
	}
	get(t, restURL[1]+"/openapi.json")
	var lines []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		// One read of stderr for both the lines and the check: the log
		// line may arrive between two reads.
		out := dev.stderr()
		lines = nil
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("stderr is not a terminal, but a log line is not JSON: %q", l)
			}
			lines = append(lines, m)
		}
		if strings.Contains(out, "/openapi.json") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	sawOpenAPI := false
	for _, m := range lines {
		switch m["path"] {
		case "/healthz":
			t.Errorf("a health check was logged: %v", m)
		case "/openapi.json":
			sawOpenAPI = true
		}
	}
	if !sawOpenAPI {
		t.Errorf("no log line for GET /openapi.json:\n%s", dev.stderr())
	}
	dev.cmd.Process.Signal(os.Interrupt)
	dev.cmd.Wait()

	dev = runDevIn(t, bin, root, data, "--log-format", "text")
	restURL = regexp.MustCompile(`(?m)^  export CERTBIND_API_URL=(\S+)$`).FindStringSubmatch(dev.banner.String())
	get(t, restURL[1]+"/healthz")
	get(t, restURL[1]+"/openapi.json")
	httpLine := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{3} INFO  http service=restapi method=GET path=/openapi.json status=200 duration=[0-9.]+(ns|µs|ms|s)$`)
	for deadline := time.Now().Add(10 * time.Second); !httpLine.MatchString(dev.stderr()) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	logs := dev.stderr()
	if !httpLine.MatchString(logs) {
		t.Errorf("--log-format text: no readable line for GET /openapi.json:\n%s", logs)
	}
	if regexp.MustCompile(`(?m)^\{`).MatchString(logs) || strings.Contains(logs, "/healthz") {
		t.Errorf("--log-format text: a JSON line or a health check in the logs:\n%s", logs)
	}
}
