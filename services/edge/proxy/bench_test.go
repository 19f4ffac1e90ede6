package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/certbind/certbind/services/edge/internal/testio"
	"github.com/certbind/certbind/services/edge/state"
)

// BenchmarkProxySmall sends requests for 64 bytes through the edge to an
// mTLS backend from parallel clients: the per-request cost of the edge.
func BenchmarkProxySmall(b *testing.B) { benchmarkProxy(b, 64) }

// BenchmarkProxy64KiB is the same with 64 KiB responses: the copying cost.
func BenchmarkProxy64KiB(b *testing.B) { benchmarkProxy(b, 64<<10) }

func benchmarkProxy(b *testing.B, size int) {
	p := newPKI(b)
	body := bytes.Repeat([]byte("x"), size)
	be := newBackend(b, p.root, p.root, func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })
	e := newEdge(b, certPool(p.root))
	cert := p.clientCert(b, "crt_1", "myBackendCert", "client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)
	url := e.url("/data")
	b.SetBytes(int64(size))
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := e.client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkEdgeAlone measures the edge with a client and a backend that do
// as little as they can: the client writes a fixed request on a raw
// connection and reads the answer by its Content-Length; the backend (TLS,
// client certificate required) reads a head and writes a fixed answer. What
// it allocates and spends is the edge's, nearly all of it.
func BenchmarkEdgeAlone(b *testing.B) { benchmarkEdgeAlone(b, 64) }

// BenchmarkEdgeAlone64KiB is BenchmarkEdgeAlone with 64 KiB answers: the
// cost of moving a body through the edge.
func BenchmarkEdgeAlone64KiB(b *testing.B) { benchmarkEdgeAlone(b, 64<<10) }

func benchmarkEdgeAlone(b *testing.B, size int) {
	be, cert, roots := startRawBackend(b, size)
	e := newEdge(b, roots)
	// As in the edge, the certificate gets its traffic counter when it is
	// installed, and every request adds to it.
	requests := prometheus.NewCounter(prometheus.CounterOpts{Name: "requests"})
	e.store.OnInstall(func(c *state.Certificate) { c.Traffic = benchTraffic{requests} })
	e.deploy([]state.Route{forward("/*", "https://"+be, cert)}, cert)
	u, _ := url.Parse(e.url("/data"))
	runRawClients(b, u.Host, u.Path)
	if got := testutil.ToFloat64(requests); got < float64(b.N) {
		b.Errorf("the certificate counted %v requests of %d", got, b.N)
	}
}

// benchTraffic counts requests as the edge's metrics do.
type benchTraffic struct{ requests prometheus.Counter }

func (t benchTraffic) Request()            { t.requests.Inc() }
func (t benchTraffic) Failed(string, bool) {}

// BenchmarkLeanAlone is BenchmarkEdgeAlone with the least a proxy must do
// in the edge's place: per client connection, it finds the end of each
// request head, sends a fixed request on a TLS connection of its own to
// the backend, reads the answer's head and Content-Length and copies the
// answer back, allocating nothing per request. The edge's ns/op and
// allocations over this one's are what its routing, parsing, headers,
// pools, metrics and watch cost.
func BenchmarkLeanAlone(b *testing.B) {
	be, cert, roots := startRawBackend(b, 64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cfg := &tls.Config{Certificates: []tls.Certificate{*cert.TLS}, RootCAs: roots, ServerName: "127.0.0.1"}
	go testio.ServeEach(ln, func(c net.Conn) { leanProxy(c, be, cfg) })
	runRawClients(b, ln.Addr().String(), "/data")
}

func leanProxy(c net.Conn, backend string, cfg *tls.Config) {
	up, err := tls.Dial("tcp", backend, cfg)
	if err != nil {
		return
	}
	defer up.Close()
	cr, ur := bufio.NewReader(c), bufio.NewReaderSize(up, 32<<10)
	req := []byte("GET /data HTTP/1.1\r\nHost: " + backend + "\r\n\r\n")
	buf := make([]byte, 64<<10)
	for {
		if err := skipHead(cr); err != nil {
			return
		}
		if _, err := up.Write(req); err != nil {
			return
		}
		n := 0
		length := -1
		for {
			line, err := ur.ReadSlice('\n')
			if err != nil {
				return
			}
			n += copy(buf[n:], line)
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				length = 0
				for _, d := range bytes.TrimSpace(v) {
					length = length*10 + int(d-'0')
				}
			}
		}
		if length < 0 || n+length > len(buf) {
			return
		}
		if _, err := io.ReadFull(ur, buf[n:n+length]); err != nil {
			return
		}
		if _, err := c.Write(buf[:n+length]); err != nil {
			return
		}
	}
}

// startRawBackend starts a TLS backend that requires a client certificate
// and answers every request head with the same size bytes, and returns its
// address, a client certificate it accepts and the roots that verify it.
func startRawBackend(b *testing.B, size int) (addr string, cert *state.Certificate, roots *x509.CertPool) {
	p := newPKI(b)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", backendTLS(b, p.root, p.root))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 03 Dec 2026 19:00:00 GMT\r\nContent-Length: " +
		strconv.Itoa(size) + "\r\n\r\n" + strings.Repeat("x", size))
	go testio.ServeEach(ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if err := skipHead(br); err != nil {
				return
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	})
	return ln.Addr().String(), p.clientCert(b, "crt_1", "myBackendCert", "client", 1), certPool(p.root)
}

// runRawClients has 8 clients per CPU send GET path to addr, each on a
// keep-alive connection of its own, and read the answers.
func runRawClients(b *testing.B, addr, path string) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readAnswer(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// skipHead reads up to the end of a head.
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// readAnswer reads a 200 answer with a Content-Length.
func readAnswer(br *bufio.Reader) error {
	n := -1
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first && !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("answer %q", line)
		}
		first = false
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return errors.New("answer without Content-Length")
	}
	_, err := br.Discard(n)
	return err
}
