package proxy_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// TestKnownLengthBodies checks that response bodies of known length reach
// the client whole and in order at sizes around the edge's copy buffer
// (64 KiB, the pieces such a body is passed on in), from a backend that
// writes them in uneven pieces, each flushed.
func TestKnownLengthBodies(t *testing.T) {
	p := newPKI(t)
	pattern := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + i/251)
		}
		return b
	}
	be := newBackend(t, p.root, p.root, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		piece, _ := strconv.Atoi(r.URL.Query().Get("piece"))
		body := pattern(n)
		w.Header().Set("Content-Length", strconv.Itoa(n))
		for len(body) > 0 {
			k := min(piece, len(body))
			w.Write(body[:k])
			w.(http.Flusher).Flush()
			body = body[k:]
		}
	})
	e := edgeFor(t, p, be.URL)
	const buf = 64 << 10 // the edge's copy buffer
	for _, n := range []int{1, buf - 1, buf, buf + 1, 3*buf + 17} {
		for _, piece := range []int{1000, 16 << 10, 100 << 10} {
			t.Run(fmt.Sprintf("%d bytes in pieces of %d", n, piece), func(t *testing.T) {
				got := e.get(t, fmt.Sprintf("/body?n=%d&piece=%d", n, piece))
				if got.status != http.StatusOK || !bytes.Equal(got.body, pattern(n)) {
					t.Fatalf("got %d with %d bytes, want 200 and the backend's %d bytes as sent", got.status, len(got.body), n)
				}
				if cl := got.header.Get("Content-Length"); cl != strconv.Itoa(n) {
					t.Errorf("Content-Length %q, want the backend's %d", cl, n)
				}
			})
		}
	}
}
