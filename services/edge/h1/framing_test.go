package h1

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFramingHeadInPieces sends the heads of requests the framing rules
// concern in pieces, and with the telling field beyond the connection's
// read buffer, so that the server finds the fields in what it recorded
// rather than in its buffer.
func TestFramingHeadInPieces(t *testing.T) {
	filler := "X-Filler: " + strings.Repeat("f", 6<<10) + "\r\n"
	tests := []struct {
		name, req string
		status    int // 200: served, then closed
	}{
		{"Content-Length and Transfer-Encoding beyond the buffer",
			"POST /first HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n" + filler + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"Transfer-Encoding and Content-Length beyond the buffer",
			"POST /first HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n" + filler + "Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 200},
		{"HTTP/1.0 Transfer-Encoding beyond the buffer",
			"POST /first HTTP/1.0\r\n" + filler + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400},
		{"bare LF",
			"POST /first HTTP/1.1\nHost: a\nContent-Length: 5\nTransfer-Encoding: chunked\n\n5\r\nhello\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", 200},
	}
	for _, tt := range tests {
		for _, piece := range []int{1 << 20, 1000, 7} {
			t.Run(tt.name, func(t *testing.T) {
				var mu sync.Mutex
				var reasons []string
				h := &counter{h: http.HandlerFunc(echo)}
				ts := startServer(t, h, func(s *Server) {
					s.OnRefuse = func(reason string) {
						mu.Lock()
						reasons = append(reasons, reason)
						mu.Unlock()
					}
				})
				c := ts.dial(t)
				go func() {
					// The server may close before it has read all.
					for rest := tt.req; rest != ""; {
						n := min(piece, len(rest))
						if _, err := io.WriteString(c.Conn, rest[:n]); err != nil {
							return
						}
						rest = rest[n:]
						time.Sleep(time.Millisecond)
					}
				}()
				r := c.read("POST")
				if r.StatusCode != tt.status || r.field("Connection") != "close" {
					t.Fatalf("answer %d %q Connection %q, want %d and close", r.StatusCode, r.body, r.field("Connection"), tt.status)
				}
				want := []string{RefuseFramingClose}
				if tt.status == 200 && r.body != "POST /first hello" {
					t.Errorf("answer %q, want %q", r.body, "POST /first hello")
				}
				if tt.status != 200 {
					want = []string{RefuseFraming}
				}
				c.expectClosed()
				wantN := int32(0)
				if tt.status == 200 {
					wantN = 1
				}
				if n := h.n.Load(); n != wantN {
					t.Errorf("the handler was called %d times, want %d", n, wantN)
				}
				mu.Lock()
				defer mu.Unlock()
				if !slices.Equal(reasons, want) {
					t.Errorf("OnRefuse got %q, want %q", reasons, want)
				}
			})
		}
	}
}
