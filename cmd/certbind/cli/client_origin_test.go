package cli

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/certbind/certbind/services/restapi"
)

func answer(status int, marked bool) *http.Response {
	resp := &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Header: http.Header{}}
	if marked {
		resp.Header.Set(restapi.Header, restapi.HeaderValue)
	}
	return resp
}

// TestNotTheAPI classifies error answers: the API's (marked, or its status
// body), the edge's, and anything else.
func TestNotTheAPI(t *testing.T) {
	const url = "http://127.0.0.1:8000"
	for _, tt := range []struct {
		name   string
		marked bool
		body   string
		want   string // "" when it is the API's answer
	}{
		{"marked", true, "<html>anything</html>", ""},
		{"marked, empty", true, "", ""},
		{"status body of an older server", false, `{"code":5,"message":"not found","details":[]}`, ""},
		{"edge", false, `{"error":"deployment_not_found","message":"no deployment is served at /v1/accounts/acme"}`, "is the certbind edge"},
		{"edge starting", false, `{"error":"edge_starting","message":"the edge is still loading"}`, "is the certbind edge"},
		{"plain text", false, "404 page not found\n", "not the certbind API"},
		{"html", false, "<html>Bad Gateway</html>", "not the certbind API"},
		{"empty", false, "", "not the certbind API"},
		{"code as a string, no error", false, `{"code":"5","message":"x"}`, "not the certbind API"},
		{"status without message", false, `{"code":5}`, "not the certbind API"},
		{"array", false, `[{"code":5,"message":"x"}]`, "not the certbind API"},
		{"truncated JSON", false, `{"code":5,"message":"x"`, "not the certbind API"},
		{"error without message", false, `{"error":"x"}`, "not the certbind API"},
		{"long body", false, strings.Repeat("x", 1000), "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := notTheAPI(url, answer(404, tt.marked), []byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("notTheAPI = %v, want nil (the API's answer)", err)
				}
				return
			}
			var apiErr *APIError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--api-url "+url) ||
				!errors.As(err, &apiErr) || apiErr.HTTPStatus != 404 {
				t.Fatalf("notTheAPI = %v, want an *APIError with %q naming --api-url", err, tt.want)
			}
			if len(err.Error()) > 600 {
				t.Errorf("message of %d bytes: the body is not cut short", len(err.Error()))
			}
			if strings.Contains(tt.want, "edge") && strings.Contains(err.Error(), "no deployment is served") {
				t.Errorf("the edge's own message passed on as the API's: %v", err)
			}
		})
	}
}

// FuzzNotTheAPI checks that any body, marked or not, is classified without
// a panic, that a marked answer is always the API's, and that an error
// never quotes more than the start of the body.
func FuzzNotTheAPI(f *testing.F) {
	for _, seed := range []string{"", "404 page not found", `{"code":5,"message":"x"}`, `{"error":"e","message":"m"}`,
		`{"code":1e400,"message":"x"}`, `{"code":null,"message":"x"}`, "\xff\xfe", `{"message":"` + strings.Repeat("é", 300) + `"}`} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, body string, marked bool) {
		err := notTheAPI("http://127.0.0.1:1", answer(502, marked), []byte(body))
		if marked && err != nil {
			t.Fatalf("a marked answer was refused: %v", err)
		}
		if err != nil && len(err.Error()) > 1000 {
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
		if err != nil && utf8.ValidString(body) && !utf8.ValidString(err.Error()) {
			t.Fatalf("a valid body was cut inside a character: %q", err)
		}
	})
}
