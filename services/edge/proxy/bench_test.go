package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

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
func BenchmarkEdgeAlone(b *testing.B) {
	p := newPKI(b)
	cfg := backendTLS(b, p.root, p.root)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 03 Dec 2026 19:00:00 GMT\r\nContent-Length: 64\r\n\r\n" + strings.Repeat("x", 64))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if err := skipHead(br); err != nil {
						return
					}
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	e := newEdge(b, certPool(p.root))
	cert := p.clientCert(b, "crt_1", "myBackendCert", "client", 1)
	e.deploy([]state.Route{forward("/*", "https://"+ln.Addr().String(), cert)}, cert)
	u, _ := url.Parse(e.url("/data"))
	req := []byte("GET " + u.Path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", u.Host)
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
