package proxy_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/certbind/certbind/services/edge/state"
)

// BenchmarkProxySmall sends small requests through the edge to an mTLS
// backend from parallel clients: the per-request cost of the edge's path.
func BenchmarkProxySmall(b *testing.B) {
	p := newPKI(b)
	body := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	be := newBackend(b, p.root, p.root, func(w http.ResponseWriter, _ *http.Request) { w.Write(body) })
	e := newEdge(b, certPool(p.root))
	cert := p.clientCert(b, "crt_1", "myBackendCert", "client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)
	url := e.url("/small")
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
