package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fuzzCall is what the fuzz handler saw of one request.
type fuzzCall struct {
	method, path string
	http10       bool
	n            int64 // body bytes read
}

// fuzzAnswer is the body the fuzz handler sends for a request, and the
// trailer it sets, so that the answers read from the wire can be checked
// against the requests the handler saw.
func fuzzAnswer(c fuzzCall) (body, trailer string) {
	line := fmt.Sprintf("%s %q %d\n", c.method, c.path, c.n)
	switch c.path {
	case "/big":
		return line + strings.Repeat("x", 5000), ""
	case "/flush":
		return line + "more", ""
	case "/trailer":
		if c.http10 {
			return line, ""
		}
		return line, "t"
	case "/204":
		return "", ""
	}
	return line, ""
}

// fuzzHandler reads the request body to its end and answers in one of the
// ways the server frames differently, chosen by the path.
func fuzzHandler(calls *[]fuzzCall, mu *sync.Mutex) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		c := fuzzCall{method: r.Method, path: r.URL.Path, http10: !r.ProtoAtLeast(1, 1), n: n}
		mu.Lock()
		*calls = append(*calls, c)
		mu.Unlock()
		body, _ := fuzzAnswer(c)
		switch c.path {
		case "/flush":
			io.WriteString(w, strings.TrimSuffix(body, "more"))
			w.(http.Flusher).Flush()
			io.WriteString(w, "more")
		case "/trailer":
			w.Header().Set("Trailer", "X-T")
			io.WriteString(w, body)
			w.Header().Set("X-T", "t")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/early":
			w.Header().Set("Link", "</a>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, body)
		default:
			io.WriteString(w, body)
		}
	}
}

// FuzzServe feeds arbitrary bytes to the server as one client connection
// and checks what comes back: the server does not panic (a panic of the
// server's own is logged as a handler's, and this handler does not panic),
// it answers or closes within a deadline, and what it sends is a sequence
// of well-formed responses, one for each request the handler saw, in
// order and with the handler's bodies, and at most one refusal at the end.
func FuzzServe(f *testing.F) {
	for _, tt := range badRequests {
		f.Add([]byte(tt.req))
	}
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /big HTTP/1.1\r\nHost: a\r\n\r\nGET /flush HTTP/1.1\r\nHost: a\r\n\r\nHEAD /big HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /trailer HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /204 HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\nGET /early HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"GET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"POST /a HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nabGET /trailer HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nshort",
		"GET http://a/x?y HTTP/1.1\r\nHost: b\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var mu sync.Mutex
		var calls []fuzzCall
		ts := startServer(t, fuzzHandler(&calls, &mu), func(s *Server) {
			s.ReadHeaderTimeout = 2 * time.Second
			s.IdleTimeout = 2 * time.Second
			s.MaxHeaderBytes = 4 << 10
			// The watch starts as soon as it may, so that it meets
			// the bytes that follow a request.
			s.WatchAfter = time.Millisecond
		})
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			// The server may close before it has read everything:
			// the write's error is not the test's concern.
			nc.Write(in)
			nc.(*net.TCPConn).CloseWrite()
		}()
		out, err := io.ReadAll(nc)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("the server neither answered nor closed within the deadline; it sent %q", out)
		case err != nil && !errors.Is(err, syscall.ECONNRESET):
			t.Fatalf("reading the answers: %v", err)
		}
		if logs := ts.logs.String(); logs != "" {
			t.Fatalf("the server logged %q", logs)
		}

		mu.Lock()
		seen := append([]fuzzCall(nil), calls...)
		mu.Unlock()
		br := bufio.NewReaderSize(bytes.NewReader(out), 1<<20)
		for i := 0; ; i++ {
			if _, err := br.Peek(1); err == io.EOF {
				if i < len(seen) {
					t.Fatalf("%d answers for %d requests the handler saw (%+v); output %q", i, len(seen), seen, out)
				}
				return
			}
			wire, err := peekHead(br)
			if err != nil {
				t.Fatalf("answer %d: %v; output %q", i, err, out)
			}
			method, http10 := "GET", false
			if i < len(seen) {
				method, http10 = seen[i].method, seen[i].http10
			}
			resp, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				t.Fatalf("answer %d is no response: %v; output %q", i, err, out)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("answer %d: reading its body: %v; output %q", i, err, out)
			}
			if resp.Proto != "HTTP/1.1" {
				t.Fatalf("answer %d: protocol %q; output %q", i, resp.Proto, out)
			}
			if _, cl := wire["Content-Length"]; cl && wire.Get("Transfer-Encoding") != "" {
				t.Fatalf("answer %d has both Content-Length and Transfer-Encoding; output %q", i, out)
			}
			if len(wire["Content-Length"]) > 1 || len(wire["Transfer-Encoding"]) > 1 {
				t.Fatalf("answer %d has framing fields twice; output %q", i, out)
			}
			if resp.StatusCode < 200 {
				// An interim answer: 100 Continue to a body's first
				// read, or the handler's 103.
				if resp.StatusCode != 100 && resp.StatusCode != 103 || len(body) != 0 {
					t.Fatalf("answer %d: unexpected interim %d %q; output %q", i, resp.StatusCode, body, out)
				}
				i--
				continue
			}
			if i >= len(seen) {
				// An answer no handler wrote: a refusal, after which
				// the connection closes.
				switch resp.StatusCode {
				case 400, 417, 431, 501, 505:
				default:
					t.Fatalf("answer %d: status %d without a handler; output %q", i, resp.StatusCode, out)
				}
				if !resp.Close {
					t.Fatalf("answer %d: a refusal that keeps the connection; output %q", i, out)
				}
				if rest, _ := io.ReadAll(br); len(rest) > 0 {
					t.Fatalf("after the refusal the server sent %q", rest)
				}
				return
			}
			want, trailer := fuzzAnswer(seen[i])
			if method == "HEAD" {
				want, trailer = "", ""
			}
			wantStatus := 200
			if seen[i].path == "/204" {
				wantStatus = 204
			}
			if resp.StatusCode != wantStatus || string(body) != want {
				t.Fatalf("answer %d to %+v: %d %q, want %d %q; output %q", i, seen[i], resp.StatusCode, body, wantStatus, want, out)
			}
			if got := resp.Trailer.Get("X-T"); got != trailer {
				t.Fatalf("answer %d to %+v: trailer %q, want %q; output %q", i, seen[i], got, trailer, out)
			}
			if http10 && wire.Get("Transfer-Encoding") != "" {
				t.Fatalf("answer %d: chunked to HTTP/1.0; output %q", i, out)
			}
		}
	})
}
