package restapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorHandlerStatusCodes(t *testing.T) {
	mux := runtime.NewServeMux()
	for _, tc := range []struct {
		code codes.Code
		http int
	}{
		{codes.InvalidArgument, 400},
		{codes.Unauthenticated, 401},
		{codes.PermissionDenied, 403},
		{codes.NotFound, 404},
		{codes.AlreadyExists, 409},
		{codes.FailedPrecondition, 409},
		{codes.Internal, 500},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("DELETE", "/v1/x", nil)
		errorHandler(context.Background(), mux, &runtime.JSONPb{}, w, r, status.Error(tc.code, "because: reasons"))
		if w.Code != tc.http || !strings.Contains(w.Body.String(), "because: reasons") {
			t.Errorf("%v: HTTP %d %s, want %d with the message", tc.code, w.Code, w.Body, tc.http)
		}
	}
}

func TestLimitBody(t *testing.T) {
	var read int
	h := limitBody(10, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		read = n
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", 11))))
	if w.Code != http.StatusRequestEntityTooLarge || read != 0 || !strings.Contains(w.Body.String(), "limit of 10 bytes") {
		t.Fatalf("announced oversize body: %d %q (handler read %d)", w.Code, w.Body, read)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/", strings.NewReader("small")))
	if w.Code != http.StatusOK || read != 5 {
		t.Fatalf("small body: %d, read %d", w.Code, read)
	}
}

// TestAccessLogLevels checks that a passing health check is logged at debug
// and every other request, a failing health check included, at info.
func TestAccessLogLevels(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	healthy := true
	h := accessLog(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !healthy {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	for _, path := range []string{"/healthz", "/healthz", "/v1/api-keys"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	healthy = false
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "path=/v1/api-keys") || !strings.Contains(lines[1], "path=/healthz status=503") {
		t.Errorf("info lines:\n%s\nwant the API call and the failing health check only", buf.String())
	}
}
