package state

import (
	"testing"

	"github.com/certbind/certbind/internal/route"
)

// TestRouteCompiledOnce: Prepare, which the watcher calls when a
// deployment arrives, compiles the path and rewrite pattern; the requests
// of the route then share what it compiled instead of compiling again.
func TestRouteCompiledOnce(t *testing.T) {
	r := Route{Path: "/users/{id}/*", RewritePattern: "https://backend/u/${params.id}"}
	p1, rw1 := r.CompiledPath(), r.CompiledRewrite()
	if p2, rw2 := r.CompiledPath(), r.CompiledRewrite(); p1 == p2 || rw1 == rw2 {
		t.Error("an unprepared route handed out the same compiled route twice; it has nothing cached to share")
	}
	r.Prepare()
	p, rw := r.CompiledPath(), r.CompiledRewrite()
	if r.CompiledPath() != p || r.CompiledRewrite() != rw {
		t.Error("a prepared route compiled its path or rewrite pattern again")
	}
	params, ok := p.Match([]string{"users", "42", "x"})
	if !ok || len(params) != 1 || params[0] != (route.Param{Name: "id", Value: "42"}) {
		t.Fatalf("prepared path matching /users/42/x = %v %v", params, ok)
	}
	u, err := rw.URL(params, "a=1")
	if err != nil || u.String() != "https://backend/u/42?a=1" {
		t.Errorf("prepared rewrite = %v, %v; want https://backend/u/42?a=1", u, err)
	}
	if n := testing.AllocsPerRun(100, func() { r.CompiledPath().Match([]string{"users", "42"}) }); n > 1 {
		t.Errorf("matching a prepared route allocates %v times, want at most 1 (the parameters)", n)
	}
}
