package suite_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/restapi"
)

// TestEveryAPIAnswerIsMarked checks that the REST facade marks every
// answer with its header, errors and unknown paths included, and that the
// edge and its admin listener, which a user may take for the API, do not.
func TestEveryAPIAnswerIsMarked(t *testing.T) {
	s := start(t, "admin-0123456789abcdef0123456789abcdef")
	big := strings.Repeat("x", restapi.DefaultMaxBodyBytes+1)
	for _, tt := range []struct {
		method, url, key, body string
		status                 int
		marked                 bool
	}{
		{"GET", s.HTTPURL + "/healthz", "", "", 200, true},
		{"GET", s.HTTPURL + "/openapi.json", "", "", 200, true},
		{"GET", s.HTTPURL + "/v1/api-keys", "admin-0123456789abcdef0123456789abcdef", "", 200, true},
		{"GET", s.HTTPURL + "/v1/api-keys", "", "", 401, true},
		{"GET", s.HTTPURL + "/v1/no-such-path", "", "", 404, true},
		{"POST", s.HTTPURL + "/v1/accounts/acme/api-keys", "admin-0123456789abcdef0123456789abcdef", big, 413, true},
		{"GET", s.EdgeURL + "/v1/accounts/acme/projects/shop/mtls-certificates", "", "", 0, false},
		{"GET", s.EdgeAdminURL + "/v1/accounts/acme/projects/shop/mtls-certificates", "", "", 0, false},
	} {
		req, err := http.NewRequest(tt.method, tt.url, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		if tt.key != "" {
			req.Header.Set("Authorization", "Bearer "+tt.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if tt.status != 0 && resp.StatusCode != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.url, resp.StatusCode, tt.status)
		}
		if got := resp.Header.Get(restapi.Header) == restapi.HeaderValue; got != tt.marked {
			t.Errorf("%s %s (%d): marked %v, want %v", tt.method, tt.url, resp.StatusCode, got, tt.marked)
		}
	}
}
