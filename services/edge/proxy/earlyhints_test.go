package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"testing"

	"github.com/certbind/certbind/services/edge/state"
)

// TestEarlyHints checks that a backend's 103 Early Hints reaches the client
// before the final answer, and that its fields do not leak into the final
// answer's header.
func TestEarlyHints(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Header().Set("X-Final", "yes")
		io.WriteString(w, "done")
	})
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "crt_1", "myBackendCert", "client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)

	var hints []textproto.MIMEHeader
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == http.StatusEarlyHints {
			hints = append(hints, h)
		}
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", e.url("/page"), nil)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "done" || resp.Header.Get("X-Final") != "yes" {
		t.Fatalf("final answer %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if len(hints) != 1 || hints[0].Get("Link") != "</app.css>; rel=preload" {
		t.Errorf("early hints seen by the client: %v, want one with the Link", hints)
	}
	if v := resp.Header.Get("Link"); v != "" {
		t.Errorf("the final answer carries the hint's Link %q", v)
	}
}
