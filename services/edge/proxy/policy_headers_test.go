package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/edge/state"
)

// fold spells a field name the way the edge compares them: in lower case,
// with "_" read as "-".
func fold(name string) string { return strings.ReplaceAll(strings.ToLower(name), "_", "-") }

// TestForwardingFieldsDropped sends each forwarding field, in several
// spellings, through the edge to a backend that records what it got: none
// of what the client sent may arrive, and the edge's own fields must.
func TestForwardingFieldsDropped(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)
	edgeHost := strings.TrimPrefix(e.baseURL, "http://")
	own := map[string]string{
		"x-forwarded-for":   "127.0.0.1",
		"x-forwarded-host":  edgeHost,
		"x-forwarded-proto": "http",
	}

	for _, name := range []string{
		"Forwarded",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Server",
		"X-Forwarded-Scheme", "X-Forwarded-Uri", "X-Forwarded-Client-Cert",
		"X-Real-Ip", "X-Client-Ip", "Client-Ip", "True-Client-Ip", "X-Original-Forwarded-For",
		"Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Originating-Ip",
		"X-Remote-Ip", "X-Remote-Addr", "X-Original-Url", "X-Rewrite-Url", "X-Original-Host",
		"X-Host", "X-Url-Scheme", "X-Scheme", "Front-End-Https",
		"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
	} {
		for _, spelling := range []string{
			name,
			strings.ReplaceAll(name, "-", "_"),
			strings.ToLower(name),
			strings.ToUpper(strings.ReplaceAll(name, "-", "_")),
		} {
			t.Run(spelling, func(t *testing.T) {
				req, err := http.NewRequest("GET", e.url("/x"), nil)
				if err != nil {
					t.Fatal(err)
				}
				// Set as written: http.Header.Set would canonicalize it.
				req.Header[spelling] = []string{"6.6.6.6"}
				req.Header["X_Custom_Field"] = []string{"kept"}
				resp, err := e.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := response{status: resp.StatusCode, header: resp.Header, body: body}.echo(t)
				for k, v := range got.Header {
					want, isOwn := own[fold(k)]
					switch {
					case fold(k) == fold(spelling) && !isOwn:
						t.Errorf("backend saw %s: %q", k, v)
					case isOwn && (len(v) != 1 || v[0] != want):
						t.Errorf("backend saw %s %q, want only the edge's %q", k, v, want)
					}
				}
				if v := got.Header.Get("X_custom_field"); v != "kept" {
					t.Errorf("backend saw X_Custom_Field %q, want %q: a field that is not a forwarding one is passed on", v, "kept")
				}
			})
		}
	}
}

// TestRequestTrailers sends a chunked request whose trailers include fields
// that must not pass (forwarding fields, credentials, framing) beside one
// that may, and checks what the backend got.
func TestRequestTrailers(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		json.NewEncoder(w).Encode(map[string]any{"announced": r.Header.Values("Trailer"), "trailer": r.Trailer})
	})
	e := newEdge(t, certPool(p.root))
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	e.deploy([]state.Route{forward("/*", be.URL, cert)}, cert)

	refused := []string{"X-Forwarded-For", "Forwarded", "Authorization", "X_forwarded_for", "X-Real-Ip",
		"Cookie", "Content-Type", "Content-Encoding", "Cache-Control", "Host", "Max-Forwards", "Via", "If-Match"}
	trailer := http.Header{"X-Checksum": {"abc"}}
	for _, name := range refused {
		trailer[name] = []string{"6.6.6.6"}
	}
	req, err := http.NewRequest("POST", e.url("/x"), io.NopCloser(strings.NewReader("some body")))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	req.Trailer = trailer
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var got struct {
		Announced []string
		Trailer   http.Header
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for _, name := range refused {
		for k, v := range got.Trailer {
			if fold(k) == fold(name) {
				t.Errorf("backend got trailer %s: %q", k, v)
			}
		}
		for _, a := range got.Announced {
			if strings.Contains(fold(a), fold(name)) {
				t.Errorf("edge announced trailer %s (Trailer: %s)", name, a)
			}
		}
	}
	if v := got.Trailer.Get("X-Checksum"); v != "abc" {
		t.Errorf("backend got trailer X-Checksum %q, want %q (all: %v)", v, "abc", got.Trailer)
	}
}
