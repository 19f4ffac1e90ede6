package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/deploytracker/gateway"
)

func TestCheckLoop(t *testing.T) {
	route := func(base, rewrite string) gateway.Route {
		return gateway.Route{Index: 1, Path: "/api/*", BaseURL: base, RewritePattern: rewrite}
	}
	tests := []struct {
		name   string
		edge   string
		route  gateway.Route
		option string // "" when the route is accepted
	}{
		{"the edge itself", "http://127.0.0.1:8000", route("http://127.0.0.1:8000", ""), "baseUrl"},
		{"the edge with a path", "http://127.0.0.1:8000", route("http://127.0.0.1:8000/acme/shop/prod", ""), "baseUrl"},
		{"default port spelled out", "https://edge.example.com", route("https://edge.example.com:443/x", ""), "baseUrl"},
		{"host in another case", "https://edge.example.com", route("https://EDGE.example.com/x", ""), "baseUrl"},
		{"rewrite to the edge", "http://127.0.0.1:8000", route("", "http://127.0.0.1:8000/users/${params.id}"), "rewritePattern"},
		{"another port", "http://127.0.0.1:8000", route("http://127.0.0.1:9443", ""), ""},
		{"another scheme's default port", "http://edge.example.com", route("https://edge.example.com", ""), ""},
		{"another host", "http://127.0.0.1:8000", route("https://backend.example.com", ""), ""},
		{"no edge URL", "", route("http://127.0.0.1:8000", ""), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLoop(&gateway.Config{Routes: []gateway.Route{tt.route}}, tt.edge)
			if tt.option == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *InputError", err)
			}
			if ie.Option != tt.option || ie.Route != 1 || !strings.Contains(ie.Msg, "the edge itself") || !strings.Contains(ie.Msg, "route 2") {
				t.Errorf("got %+v", ie)
			}
		})
	}
}
