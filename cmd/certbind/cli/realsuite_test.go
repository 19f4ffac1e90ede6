package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certbind/certbind/cmd/certbind/suite"
)

// adminKey is the admin key of the suites the tests start.
const adminKey = "e2e-admin-0123456789abcdef0123456789abcdef"

// shared is one real suite (certmgr, the deploytracker and the REST facade
// on loopback, bbolt in a 0700 temp dir) that the tests of this package share
// so that the run stays fast; each test works in an account of its own
// (newAccount), which the server keeps apart from every other.
var shared struct {
	once    sync.Once
	url     string
	err     error
	stop    func()
	account atomic.Int64
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// sharedSuiteURL starts the shared suite on first use and returns the REST
// facade's base URL.
func sharedSuiteURL(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "certbind-cli-test-") // 0700
		if err != nil {
			shared.err = err
			return
		}
		url, stop, err := runSuite(dir)
		if err != nil {
			os.RemoveAll(dir)
			shared.err = err
			return
		}
		shared.url = url
		shared.stop = func() {
			stop()
			os.RemoveAll(dir)
		}
	})
	if shared.err != nil {
		t.Fatalf("starting the shared suite: %v", shared.err)
	}
	return shared.url
}

// runSuite starts a real suite on loopback with its state in dir and
// returns the REST facade's base URL and the function that stops it.
func runSuite(dir string) (url string, stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := suite.Start(ctx, suite.Config{DataDir: dir, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", AdminKey: adminKey})
	if err != nil {
		cancel()
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	return s.HTTPURL, func() {
		cancel()
		<-done
	}, nil
}

// newAccount returns an account no other test of the package uses.
func newAccount() string {
	return fmt.Sprintf("acme%d", shared.account.Add(1))
}

// realEnv points the CLI at the shared suite with the admin key.
func realEnv(t *testing.T) map[string]string {
	return map[string]string{EnvAPIURL: sharedSuiteURL(t), EnvAPIKey: adminKey}
}

type recordedRequest struct {
	Method, Path, RawPath, Query, Auth string
	Body                               []byte
	// Status and Answer are what the server answered.
	Status int
	Answer []byte
}

// recorder is a reverse proxy in front of the shared suite that records
// every request the CLI sends and the status the real server answered, so a
// test can check what went over the wire. A fault, when set, may answer a
// request in the server's place (returning true) or alter it on its way.
type recorder struct {
	srv   *httptest.Server
	mu    sync.Mutex
	reqs  []recordedRequest
	fault func(w http.ResponseWriter, r *http.Request) bool
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	target, err := url.Parse(sharedSuiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recordedRequest{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), Body: body})
		i, fault := len(rec.reqs)-1, rec.fault
		rec.mu.Unlock()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if fault == nil || !fault(sw, r) {
			proxy.ServeHTTP(sw, r)
		}
		rec.mu.Lock()
		if i < len(rec.reqs) {
			rec.reqs[i].Status, rec.reqs[i].Answer = sw.status, sw.body.Bytes()
		}
		rec.mu.Unlock()
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// env points the CLI at the recorder with the admin key.
func (rec *recorder) env() map[string]string {
	return map[string]string{EnvAPIURL: rec.srv.URL, EnvAPIKey: adminKey}
}

func (rec *recorder) requests() []recordedRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recordedRequest(nil), rec.reqs...)
}

func (rec *recorder) reset() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = nil
}

// statusWriter remembers the status a handler wrote and the start of the
// body.
type statusWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if room := 4096 - w.body.Len(); room > 0 {
		w.body.Write(b[:min(room, len(b))])
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// setFault makes the recorder inject fault from the next request on.
func (rec *recorder) setFault(fault func(w http.ResponseWriter, r *http.Request) bool) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.fault = fault
}
