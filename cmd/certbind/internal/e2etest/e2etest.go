// Package e2etest holds what the end-to-end tests of the suite and of the
// processes share: an mTLS backend, a load generator that counts failures,
// and polling for a response.
package e2etest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

// ServerCert issues a certificate for a backend on 127.0.0.1.
func ServerCert(t testing.TB, ca *testpki.Cert) *testpki.Cert {
	return ca.Issue(t, testpki.Options{CommonName: "127.0.0.1", IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
}

// MTLSBackend is an HTTPS server that requires a client certificate from
// clientCA and answers "subject=... path=...".
func MTLSBackend(t testing.TB, server, clientCA *testpki.Cert) *httptest.Server {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "subject=%s path=%s", r.TLS.PeerCertificates[0].Subject, r.URL.Path)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{server.DER}, PrivateKey: server.Key}},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// Load sends GETs to a URL from several goroutines until Finish, and counts
// every answer that is not a 200.
type Load struct {
	ok, failed atomic.Int64
	lastBody   atomic.Value
	firstError atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

// StartLoad starts n goroutines sending GETs to url.
func StartLoad(url string, n int) *Load {
	l := &Load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for range n {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil {
					l.failed.Add(1)
					l.firstError.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.failed.Add(1)
					l.firstError.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				l.ok.Add(1)
				l.lastBody.Store(string(body))
			}
		})
	}
	return l
}

// minRequests is how many requests a phase must carry before Finish stops
// it, so that every phase runs under real load however fast it was.
const minRequests = 300

// Finish lets the load reach minRequests, stops it and fails the test if
// any request failed. It returns the last body seen.
func (l *Load) Finish(t testing.TB, phase string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); l.ok.Load()+l.failed.Load() < minRequests && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(l.stop)
	l.wg.Wait()
	t.Logf("%s: %d requests ok, %d failed", phase, l.ok.Load(), l.failed.Load())
	if l.failed.Load() != 0 {
		t.Fatalf("%s: %d requests failed, first: %v", phase, l.failed.Load(), l.firstError.Load())
	}
	if l.ok.Load() < minRequests {
		t.Fatalf("%s: only %d requests went through; the load did not run", phase, l.ok.Load())
	}
	body, _ := l.lastBody.Load().(string)
	return body
}

// Eventually polls url until it answers code with want in the body.
func Eventually(t testing.TB, url string, code int, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			if resp.StatusCode == code && strings.Contains(string(b), want) {
				return string(b)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d with %q; last: %s", url, code, want, last)
	return ""
}
