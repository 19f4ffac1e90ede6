package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

// rawGet sends path as the request-target, byte for byte, and returns the
// answer.
func rawGet(t *testing.T, addr, path string) response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// TestPathNotAllowed sends paths that a backend which decodes or
// normalizes them would resolve outside the route's prefix: each is
// answered 400 and nothing reaches the backend.
func TestPathNotAllowed(t *testing.T) {
	p := newPKI(t)
	be := newBackend(t, p.root, p.root, nil)
	cert := p.clientCert(t, "cert-1", "myBackendCert", "edge client", 1)
	routes := []state.Route{
		forward("/api/*", be.URL+"/base/", cert),
		rewrite("/users/{id}", be.URL+"/v2/users/${params.id}", cert),
		rewrite("/dots/{id}", be.URL+"/v2/.${params.id}", cert),
	}
	paths := []string{
		"/api/..%2F..%2Fadmin",
		"/api/..%2f..%2fadmin",
		"/api/%2e%2e%2fadmin",
		"/api/%2e%2e%2f",
		"/api/..%5Cadmin",
		"/api/..%5c..%5cadmin",
		"/api/a\\..\\admin",
		"/api/..;/admin",
		"/api/..;x=1/admin",
		"/api/.;/admin",
		"/api/%2e%2e;/admin",
		"/api/../admin",
		"/api/%2e%2e/admin",
		"/api/.%2e/admin",
		"/api/./admin",
		"/api/.../admin",
		"/api/a%2Fb",
		"/api/a%2fb",
		"/api/a%5Cb",
		"/api/a%00b",
		"/api/a%0d%0aX-Injected:%201",
		"/api/a%7fb",
		"/api/%252e%252e%252fadmin",
		"/api/%252e%252e/admin",
		"/api/%c0%ae%c0%ae/admin",
		"/api/%ef%bc%8e%ef%bc%8e/admin",
		"/users/..%2Fadmin",
		"/users/..%2F..%2Fadmin",
		"/users/%2e%2e",
		"/users/..;",
		"/users/..%5Cadmin",
		"/dots/;x",
	}
	e := newEdge(t, certPool(p.root))
	e.deploy(routes, cert)
	addr := strings.TrimPrefix(e.baseURL, "http://")
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			got := rawGet(t, addr, "/acme/shop/prod"+path).apiError(t, http.StatusBadRequest, "path_not_allowed")
			contains(t, "message", got.Message, "dot segment", "%2F")
		})
	}
	if n := be.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the backend", n)
	}

	// With encoded slashes allowed, a "/" may be inside a segment, but a
	// dot segment still may not, on either side of it.
	e = newEdge(t, certPool(p.root), func(c *proxy.Config) { c.AllowEncodedSlashes = true })
	e.deploy(routes, cert)
	addr = strings.TrimPrefix(e.baseURL, "http://")
	for _, tc := range []struct{ path, want string }{
		{"/api/a%2Fb", "/base/api/a%2Fb"},
		{"/users/a%2Fb", "/v2/users/a%2Fb"},
	} {
		if got := rawGet(t, addr, "/acme/shop/prod"+tc.path).echo(t); got.Path != tc.want {
			t.Errorf("%s: backend saw %s, want %s", tc.path, got.Path, tc.want)
		}
	}
	for _, path := range []string{"/api/..%2F..%2Fadmin", "/api/%2e%2e%2f", "/users/..%2Fadmin", "/api/a%2F..", "/api/..%5Cadmin"} {
		rawGet(t, addr, "/acme/shop/prod"+path).apiError(t, http.StatusBadRequest, "path_not_allowed")
	}
}
