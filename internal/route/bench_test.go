package route

import "testing"

// benchRoutes are the paths of a deployment the benchmarks match against:
// a request for /orders/42/items walks past the first two.
var benchRoutes = []string{"/users/{id}", "/api/*", "/orders/{id}/items"}

func BenchmarkMatch(b *testing.B) {
	paths := make([]*Path, len(benchRoutes))
	for i, s := range benchRoutes {
		paths[i] = Compile(s)
	}
	segments := []string{"orders", "42", "items"}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range paths {
			if _, ok := p.Match(segments); ok {
				break
			}
		}
	}
}

func BenchmarkRewriteURL(b *testing.B) {
	rw := CompileRewrite("https://backend.example.com/v2/orders/${params.id}/items?src=${params.id}")
	params := []Param{{"id", "42"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rw.URL(params, "page=2"); err != nil {
			b.Fatal(err)
		}
	}
}
