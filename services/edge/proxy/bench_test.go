package proxy_test

import (
	"bytes"
	"io"
	"net/http"
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
