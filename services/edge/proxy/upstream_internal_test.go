package proxy

// White-box tests of the upstream client: the request head writeHead
// frames (a table of exact bytes, and a fuzz target for injection), the
// liveness check of idle connections, the wait for an answer after a
// request without a body (sendAwait), and the wait for an answer when a
// request body fails.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/certbind/certbind/services/edge/internal/testio"
)

// headOf runs writeHead on o and returns what it wrote.
func headOf(o *outgoing) (string, error) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	err := writeHead(bw, o)
	bw.Flush()
	return buf.String(), err
}

// TestWriteHead compares the exact bytes writeHead writes. Each case has
// at most one field name of its own in the header (and trailer), because
// maps are written in no fixed order.
func TestWriteHead(t *testing.T) {
	body := strings.NewReader("hello")
	for _, tc := range []struct {
		name    string
		o       outgoing
		want    string
		wantErr string // a part of the error; "" for none
	}{
		{
			name: "GET",
			o:    outgoing{method: "GET", target: "/a/b?c=d", host: "backend.example:8443"},
			want: "GET /a/b?c=d HTTP/1.1\r\nHost: backend.example:8443\r\n\r\n",
		},
		{
			name: "field values in order",
			o:    outgoing{method: "GET", target: "/", host: "b", header: http.Header{"Accept": {"text/html", "*/*"}}},
			want: "GET / HTTP/1.1\r\nHost: b\r\nAccept: text/html\r\nAccept: */*\r\n\r\n",
		},
		{
			// A line break would end the field, and what follows
			// would pass for a field of its own.
			name: "CR and LF in a value are sent as spaces",
			o:    outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X-A": {"1\r\nX-Injected: yes\rZ\nW"}}},
			want: "GET / HTTP/1.1\r\nHost: b\r\nX-A: 1  X-Injected: yes Z W\r\n\r\n",
		},
		{
			name: "CR and LF in the host are sent as spaces",
			o:    outgoing{method: "GET", target: "/", host: "b\r\nHost: evil"},
			want: "GET / HTTP/1.1\r\nHost: b  Host: evil\r\n\r\n",
		},
		{
			name: "CR and LF in the upgrade are sent as spaces",
			o:    outgoing{method: "GET", target: "/ws", host: "b", upgrade: "websocket\r\nX-Injected: yes"},
			want: "GET /ws HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket  X-Injected: yes\r\n\r\n",
		},
		{
			// The framing fields are the upstream's own: what the
			// caller's header has of them is never written, so none
			// is written twice.
			name: "framing fields of the caller are not written",
			o: outgoing{method: "POST", target: "/up", host: "b", body: body, length: 5, header: http.Header{
				"Host":              {"evil.example"},
				"Content-Length":    {"999"},
				"Transfer-Encoding": {"chunked"},
				"Connection":        {"close"},
				"Upgrade":           {"h2c"},
				"Trailer":           {"X-Evil"},
				"X-Kept":            {"1"},
			}},
			want: "POST /up HTTP/1.1\r\nHost: b\r\nX-Kept: 1\r\nContent-Length: 5\r\n\r\n",
		},
		{
			name: "framing fields of the caller, chunked with a trailer",
			o: outgoing{method: "PUT", target: "/up", host: "b", body: body, length: -1, trailer: http.Header{"X-Sum": nil}, header: http.Header{
				"Content-Length":    {"5"},
				"Transfer-Encoding": {"gzip"},
				"Trailer":           {"X-Evil"},
				"Connection":        {"keep-alive"},
			}},
			want: "PUT /up HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n",
		},
		{
			name: "framing fields of the caller, upgrade",
			o: outgoing{method: "GET", target: "/ws", host: "b", upgrade: "websocket", header: http.Header{
				"Connection": {"Upgrade, X-Other"},
				"Upgrade":    {"h2c"},
			}},
			want: "GET /ws HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		},
		{
			name: "close",
			o:    outgoing{method: "GET", target: "/", host: "b", close: true, header: http.Header{"Connection": {"keep-alive"}}},
			want: "GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n",
		},
		{
			// An upgrade needs the connection open; it wins.
			name: "upgrade and close",
			o:    outgoing{method: "GET", target: "/", host: "b", close: true, upgrade: "websocket"},
			want: "GET / HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		},
		{
			name: "dropped fields",
			o: outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X-Drop": {"1"}},
				drop: func(name string) bool { return name == "X-Drop" }},
			want: "GET / HTTP/1.1\r\nHost: b\r\n\r\n",
		},
		{
			name: "extra fields after the header",
			o: outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X-A": {"a"}},
				extra: []field{{"X-Forwarded-For", "10.0.0.1"}, {"X-Forwarded-Proto", "https"}}},
			want: "GET / HTTP/1.1\r\nHost: b\r\nX-A: a\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\n\r\n",
		},
		// A POST, PUT or PATCH without a body says so: a server could
		// otherwise wait for one.
		{name: "POST without a body", o: outgoing{method: "POST", target: "/", host: "b"},
			want: "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n"},
		{name: "PUT without a body", o: outgoing{method: "PUT", target: "/", host: "b"},
			want: "PUT / HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n"},
		{name: "PATCH without a body", o: outgoing{method: "PATCH", target: "/", host: "b"},
			want: "PATCH / HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n"},
		{name: "POST with an empty body", o: outgoing{method: "POST", target: "/", host: "b", body: strings.NewReader(""), length: 0},
			want: "POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 0\r\n\r\n"},
		{name: "DELETE without a body", o: outgoing{method: "DELETE", target: "/x", host: "b"},
			want: "DELETE /x HTTP/1.1\r\nHost: b\r\n\r\n"},
		{name: "DELETE with a body", o: outgoing{method: "DELETE", target: "/x", host: "b", body: body, length: 5},
			want: "DELETE /x HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\n"},
		{name: "OPTIONS *", o: outgoing{method: "OPTIONS", target: "*", host: "b"},
			want: "OPTIONS * HTTP/1.1\r\nHost: b\r\n\r\n"},
		{
			// A trailer's name is announced as the value of a Trailer
			// field, so it is not checked as a name here (a line
			// break is sent as a space, as in any value); it is
			// checked when the trailer itself is written, after the
			// body. Asserted as it is: only a Fetch can name such a
			// trailer.
			name: "trailer name is announced as a value",
			o:    outgoing{method: "POST", target: "/", host: "b", body: body, length: -1, trailer: http.Header{"Bad\nName": nil}},
			want: "POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\nTrailer: Bad Name\r\n\r\n",
		},
		{
			// Keys are taken as they are, as net/http's
			// Request.Write takes them: http.Header's keys are
			// canonical unless a caller sets the map directly, and
			// the handler's come from the parser. A non-canonical
			// framing key is therefore written; this asserts the
			// behaviour, which matches net/http's.
			name: "non-canonical key is written as is",
			o:    outgoing{method: "GET", target: "/", host: "b", header: http.Header{"x-lower": {"1"}}},
			want: "GET / HTTP/1.1\r\nHost: b\r\nx-lower: 1\r\n\r\n",
		},

		{name: "empty method", o: outgoing{method: "", target: "/", host: "b"}, wantErr: "method"},
		{name: "method with a space", o: outgoing{method: "GET /evil HTTP/1.1\r\nX:", target: "/", host: "b"}, wantErr: "method"},
		{name: "method with a separator", o: outgoing{method: "GE(T", target: "/", host: "b"}, wantErr: "method"},
		{name: "method with a line break", o: outgoing{method: "GET\n", target: "/", host: "b"}, wantErr: "method"},
		{name: "empty target", o: outgoing{method: "GET", target: "", host: "b"}, wantErr: "request target"},
		{name: "target with a space", o: outgoing{method: "GET", target: "/a HTTP/1.0", host: "b"}, wantErr: "request target"},
		{name: "target with CRLF", o: outgoing{method: "GET", target: "/a\r\nX-Injected: 1", host: "b"}, wantErr: "request target"},
		{name: "target with LF", o: outgoing{method: "GET", target: "/a\nb", host: "b"}, wantErr: "request target"},
		{name: "field name with a space", o: outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X Bad": {"1"}}}, wantErr: "header field name"},
		{name: "field name with a colon", o: outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X:Bad": {"1"}}}, wantErr: "header field name"},
		{name: "field name with CRLF", o: outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X\r\nInjected": {"1"}}}, wantErr: "header field name"},
		{name: "empty field name", o: outgoing{method: "GET", target: "/", host: "b", header: http.Header{"": {"1"}}}, wantErr: "header field name"},
		{name: "field name not ASCII", o: outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X-Ünicode": {"1"}}}, wantErr: "header field name"},
		{name: "extra field name", o: outgoing{method: "GET", target: "/", host: "b", extra: []field{{"Bad Name", "1"}}}, wantErr: "header field name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := headOf(&tc.o)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one about the %s (wrote %q)", err, tc.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if got != tc.want {
				t.Errorf("wrote\n%q\nwant\n%q", got, tc.want)
			}
			// What is written must be a request net/http reads as
			// such (OPTIONS * aside, which it reads too).
			if _, err := http.ReadRequest(bufio.NewReader(strings.NewReader(got))); err != nil {
				t.Errorf("net/http cannot read what was written: %v", err)
			}
		})
	}
}

// TestWriteHeadFramingNeverTwice writes requests whose header holds every
// framing field, for each framing the upstream chooses, and checks that
// each framing field appears at most once, with the upstream's value.
func TestWriteHeadFramingNeverTwice(t *testing.T) {
	caller := http.Header{
		"Host":              {"evil.example"},
		"Content-Length":    {"999"},
		"Transfer-Encoding": {"chunked"},
		"Connection":        {"close"},
		"Upgrade":           {"h2c"},
		"Trailer":           {"X-Evil"},
		"X-A":               {"1"},
		"X-B":               {"2"},
	}
	for _, tc := range []struct {
		name string
		o    outgoing
		want map[string]string // framing field -> value; absent: not written
	}{
		{"GET", outgoing{method: "GET"}, map[string]string{"Host": "b"}},
		{"POST fixed", outgoing{method: "POST", body: strings.NewReader("x"), length: 1},
			map[string]string{"Host": "b", "Content-Length": "1"}},
		{"POST chunked", outgoing{method: "POST", body: strings.NewReader("x"), length: -1, trailer: http.Header{"X-Sum": nil}},
			map[string]string{"Host": "b", "Transfer-Encoding": "chunked", "Trailer": "X-Sum"}},
		{"PUT empty", outgoing{method: "PUT"}, map[string]string{"Host": "b", "Content-Length": "0"}},
		{"upgrade", outgoing{method: "GET", upgrade: "websocket"},
			map[string]string{"Host": "b", "Connection": "Upgrade", "Upgrade": "websocket"}},
		{"close", outgoing{method: "GET", close: true}, map[string]string{"Host": "b", "Connection": "close"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.target, o.host, o.header = "/", "b", caller
			got, err := headOf(&o)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string][]string{}
			lines := strings.Split(strings.TrimSuffix(got, "\r\n\r\n"), "\r\n")
			for _, l := range lines[1:] {
				name, value, ok := strings.Cut(l, ": ")
				if !ok {
					t.Fatalf("line %q is not a field", l)
				}
				seen[name] = append(seen[name], value)
			}
			for _, name := range []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Trailer"} {
				want, ok := tc.want[name]
				switch v := seen[name]; {
				case !ok && len(v) != 0:
					t.Errorf("%s written %q, want it absent", name, v)
				case ok && (len(v) != 1 || v[0] != want):
					t.Errorf("%s written %q, want once, %q", name, v, want)
				}
			}
			if len(seen["X-A"]) != 1 || len(seen["X-B"]) != 1 {
				t.Errorf("end-to-end fields written %q and %q, want once each", seen["X-A"], seen["X-B"])
			}
		})
	}
}

// TestWriteHeadControlBytes checks the bytes other than CR and LF that no
// request may carry: NUL in a field value, which RFC 9110 (section 5.5)
// calls dangerous and requires to be refused or replaced by a space, and
// control characters in the request-target, which net/http refuses to
// write ("can't write control character in Request.URL"; a tab is taken
// for a separator by lenient parsers, RFC 9112 section 3). Only a Fetch can
// bring them (the edge's server refuses them from clients), and net/http,
// which Fetch used before the upstream, refuses them before sending.
func TestWriteHeadControlBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    outgoing
		bad  string // must not be written
	}{
		{"NUL in a field value", outgoing{method: "GET", target: "/", host: "b", header: http.Header{"X-A": {"a\x00b"}}}, "\x00"},
		{"NUL in the host", outgoing{method: "GET", target: "/", host: "b\x00c"}, "\x00"},
		{"NUL in an extra field", outgoing{method: "GET", target: "/", host: "b", extra: []field{{"X-A", "a\x00"}}}, "\x00"},
		{"tab in the target", outgoing{method: "GET", target: "/a\tHTTP/1.0", host: "b"}, "\t"},
		{"NUL in the target", outgoing{method: "GET", target: "/a\x00b", host: "b"}, "\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := headOf(&tc.o)
			if err == nil && strings.Contains(got, tc.bad) {
				t.Errorf("wrote %q: the control character %q went out, want it refused (or, in a field value, sent as a space)", got, tc.bad)
			}
		})
	}
}

// FuzzWriteHead feeds writeHead arbitrary methods, targets, hosts and one
// header field, and checks that it either refuses them or writes a head
// with exactly the lines it should: the request line, one Host, the field
// (unless it is a framing field, which the upstream writes itself), the
// upstream's own framing and the blank line. Whenever the inputs are bytes
// a request may carry, net/http must read the head back as the same
// request, with every control character but tab in a value sent as a
// space.
func FuzzWriteHead(f *testing.F) {
	f.Add("GET", "/", "backend:8443", "X-A", "1")
	f.Add("POST", "/a?b=c", "b", "Content-Length", "5")
	f.Add("GET", "/", "b", "Host", "evil")
	f.Add("GET", "/", "b", "X-A", "1\r\nX-Injected: 1")
	f.Add("GET", "/", "b\r\nX-Injected: 1", "X-A", "1")
	f.Add("GET /x HTTP/1.1\r\nX", "/", "b", "X-A", "1")
	f.Add("GET", "/ HTTP/1.1\r\nX-Injected: 1\r\n", "b", "X-A", "1")
	f.Add("GET", "/", "b", "X-A\r\nX-Injected", "1")
	f.Add("PATCH", "/%zz", "b", "Transfer-Encoding", "chunked")
	f.Add("GET", "/", "b", "X-A", "  padded\t")
	f.Add("GET", "/", "b", "X-A", "\r\n\r\nGET /smuggled HTTP/1.1")
	f.Fuzz(func(t *testing.T, method, target, host, name, value string) {
		// Callers send origin-form targets (u.RequestURI()), and
		// keys in canonical form, as http.Header.Set makes them.
		target = "/" + target
		name = http.CanonicalHeaderKey(name)
		o := &outgoing{method: method, target: target, host: host, header: http.Header{name: {value}}}
		out, err := headOf(o)
		if err != nil {
			return
		}

		// The structure: CR and LF only as line ends, and exactly
		// the lines expected.
		written := !framing(name)
		bodyless := method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch
		lines := 2 + b2i(written) + b2i(bodyless) + 1
		if n := strings.Count(out, "\r\n"); n != lines || strings.Count(out, "\n") != n || strings.Count(out, "\r") != n {
			t.Fatalf("wrote %d lines (%d LF, %d CR), want %d:\n%q", n, strings.Count(out, "\n"), strings.Count(out, "\r"), lines, out)
		}
		l := strings.Split(out, "\r\n")
		if !strings.HasPrefix(l[0], method+" ") || !strings.HasPrefix(l[1], "Host: ") ||
			written && !strings.HasPrefix(l[2], name+": ") || bodyless && l[2+b2i(written)] != "Content-Length: 0" {
			t.Fatalf("lines out of place:\n%q", out)
		}

		spaced := func(s string) string {
			b := []byte(s)
			for i, c := range b {
				if c < ' ' && c != '\t' || c == 0x7f {
					b[i] = ' '
				}
			}
			return string(b)
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(out)))
		if err != nil {
			_, uerr := url.ParseRequestURI(target)
			if uerr != nil || !httpguts.ValidHeaderFieldValue(spaced(value)) || !httpguts.ValidHeaderFieldValue(spaced(host)) {
				return // bytes no request may carry; see above
			}
			t.Fatalf("net/http cannot read the head written: %v\n%q", err, out)
		}
		trim := func(s string) string { return strings.Trim(spaced(s), " \t") }
		if req.Method != method || req.RequestURI != target || req.Host != trim(host) {
			t.Fatalf("read back %q %q Host %q, want %q %q %q\n%q", req.Method, req.RequestURI, req.Host, method, target, trim(host), out)
		}
		want := http.Header{}
		if written {
			want[name] = []string{trim(value)}
		}
		if bodyless {
			want["Content-Length"] = []string{"0"}
		}
		if len(req.Header) != len(want) {
			t.Fatalf("read back fields %q, want %q\n%q", req.Header, want, out)
		}
		for k, v := range want {
			if got := req.Header[k]; len(got) != 1 || got[0] != v[0] {
				t.Fatalf("read back %s %q, want %q\n%q", k, got, v, out)
			}
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// quietConn reports whether upConn.quiet finds c quiet.
func quietConn(c net.Conn) bool { return newUpConn(c, c).quiet() }

// TestQuiet checks the peek at idle connections: open and quiet is quiet;
// a byte waiting or the end of the stream is not, and the peek consumes
// nothing, nor does it mind a read deadline that has passed.
func TestQuiet(t *testing.T) {
	t.Run("quiet", func(t *testing.T) {
		c, _ := tcpPair(t)
		if !quietConn(c) {
			t.Error("an open, quiet connection is reported not quiet")
		}
	})
	t.Run("quiet past its read deadline", func(t *testing.T) {
		c, _ := tcpPair(t)
		c.SetReadDeadline(time.Now().Add(-time.Second))
		if !quietConn(c) {
			t.Error("an open, quiet connection past its read deadline is reported not quiet")
		}
	})
	t.Run("byte waiting", func(t *testing.T) {
		c, s := tcpPair(t)
		s.Write([]byte("x"))
		if !eventuallyTrue(func() bool { return !quietConn(c) }) {
			t.Fatal("a connection with a byte waiting is reported quiet")
		}
		// The peek left the byte where it was.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
			t.Errorf("read %q (%v) after the peek, want %q", b, err, "x")
		}
	})
	t.Run("closed by the peer", func(t *testing.T) {
		c, s := tcpPair(t)
		s.Close()
		if !eventuallyTrue(func() bool { return !quietConn(c) }) {
			t.Error("a connection the peer closed is reported quiet")
		}
	})
	t.Run("closed here", func(t *testing.T) {
		c, _ := tcpPair(t)
		c.Close()
		if quietConn(c) {
			t.Error("a closed connection is reported quiet")
		}
	})
	t.Run("not a syscall.Conn", func(t *testing.T) {
		c, _ := tcpPair(t)
		if quietConn(struct{ net.Conn }{c}) {
			t.Error("a connection that cannot be peeked at is reported quiet")
		}
	})
}

// TestSendAwait checks that a request without a body is sent and that
// sendAwait returns only once the answer has begun to come (a read straight
// after the send would find nothing), and that a wait that ends without an
// answer leaves the read after it to say why.
func TestSendAwait(t *testing.T) {
	const request = "GET / HTTP/1.1\r\nHost: b\r\n\r\n"
	setup := func(t *testing.T) (*upConn, *bufio.Reader, net.Conn) {
		raw, peer := tcpPair(t)
		c := newUpConn(raw, raw)
		if c.rc == nil {
			t.Skip("no RawConn on this platform: sendAwait only flushes")
		}
		c.raw.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.bw.WriteString(request)
		return c, bufio.NewReader(peer), peer
	}
	// readRequest reads what the peer got, and fails the test unless it is
	// the request.
	readRequest := func(t *testing.T, br *bufio.Reader) {
		t.Helper()
		got := make([]byte, len(request))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != request {
			t.Errorf("the backend got %q (%v), want %q", got, err, request)
		}
	}

	t.Run("waits for the answer", func(t *testing.T) {
		c, br, peer := setup(t)
		go func() {
			readRequest(t, br)
			time.Sleep(50 * time.Millisecond)
			peer.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
		}()
		start := time.Now()
		if err := c.sendAwait(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < 40*time.Millisecond {
			t.Errorf("sendAwait returned after %v, before the answer was sent (50ms)", took)
		}
		// A byte is waiting: the peek quiet makes finds it.
		if c.quiet() {
			t.Error("sendAwait returned with nothing to read")
		}
		if line, err := c.br.ReadString('\n'); err != nil || line != "HTTP/1.1 204 No Content\r\n" {
			t.Errorf("read %q (%v) after sendAwait", line, err)
		}
	})

	// An answer may come while the send is still returning (here it always
	// does: the write sleeps once the bytes are out). The wait must still
	// end at once; one that began after the answer came would miss it and
	// last until the read deadline, which the read after it would report.
	t.Run("answer during the send", func(t *testing.T) {
		raw, peer := tcpPair(t)
		c := newUpConn(slowWriteConn{raw, 20 * time.Millisecond}, raw)
		br := bufio.NewReader(peer)
		const answer = "HTTP/1.1 204 No Content\r\n\r\n"
		go func() {
			for {
				got := make([]byte, len(request))
				if _, err := io.ReadFull(br, got); err != nil {
					return
				}
				peer.Write([]byte(answer))
			}
		}()
		got := make([]byte, len(answer))
		for i := range 3 {
			c.raw.SetReadDeadline(time.Now().Add(2 * time.Second))
			c.bw.WriteString(request)
			start := time.Now()
			if err := c.sendAwait(); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("round %d: sendAwait took %v for an answer that came during the send", i, took)
			}
			if _, err := io.ReadFull(c.br, got); err != nil || string(got) != answer {
				t.Fatalf("round %d: read %q (%v)", i, got, err)
			}
		}
	})

	t.Run("deadline", func(t *testing.T) {
		c, br, _ := setup(t)
		c.raw.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if err := c.sendAwait(); err != nil {
			t.Fatalf("sendAwait: %v, want the error left to the read", err)
		}
		readRequest(t, br)
		if _, err := c.br.Peek(1); !isTimeout(err) {
			t.Errorf("read after a wait past the deadline: %v, want a timeout", err)
		}
	})

	t.Run("closed while waiting", func(t *testing.T) {
		c, _, _ := setup(t)
		time.AfterFunc(50*time.Millisecond, func() { c.raw.Close() })
		if err := c.sendAwait(); err != nil {
			t.Fatalf("sendAwait: %v, want the error left to the read", err)
		}
		if _, err := c.br.Peek(1); !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after a close during the wait: %v, want %v", err, net.ErrClosed)
		}
	})

	t.Run("closed by the backend", func(t *testing.T) {
		c, br, peer := setup(t)
		go func() {
			readRequest(t, br)
			peer.Close()
		}()
		if err := c.sendAwait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.br.Peek(1); err != io.EOF {
			t.Errorf("read after the backend closed: %v, want EOF", err)
		}
	})

	// A close that came before the send was forgotten with the socket's
	// earlier readiness; the request then meets the closed socket, whose
	// reset ends the wait.
	t.Run("closed by the backend before the send", func(t *testing.T) {
		c, _, peer := setup(t)
		peer.Close()
		if !eventuallyTrue(func() bool { return !c.quiet() }) {
			t.Fatal("the backend's close never arrived")
		}
		start := time.Now()
		if err := c.sendAwait(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("sendAwait waited %v on a connection the backend had closed", took)
		}
		if _, err := c.br.Peek(1); err == nil || isTimeout(err) {
			t.Errorf("read after the backend closed: %v, want the end of the connection", err)
		}
	})

	t.Run("send fails", func(t *testing.T) {
		c, _, _ := setup(t)
		c.raw.Close()
		start := time.Now()
		if err := c.sendAwait(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("sendAwait on a closed connection: %v, want %v", err, net.ErrClosed)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("a send that failed still waited (%v)", took)
		}
	})

	// Bytes a backend sent after its last answer are read at once, as
	// before, not held back until more comes.
	t.Run("bytes already buffered", func(t *testing.T) {
		c, br, peer := setup(t)
		peer.Write([]byte("xy"))
		if b, err := c.br.ReadByte(); err != nil || b != 'x' {
			t.Fatalf("read %q (%v), want x", b, err)
		}
		c.raw.SetReadDeadline(time.Now().Add(2 * time.Second))
		start := time.Now()
		if err := c.sendAwait(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("sendAwait waited %v with a byte already buffered", took)
		}
		readRequest(t, br)
		if b, err := c.br.ReadByte(); err != nil || b != 'y' {
			t.Errorf("read %q (%v), want y", b, err)
		}
	})
}

// slowWriteConn sleeps for delay after each write, once the bytes are out.
type slowWriteConn struct {
	net.Conn
	delay time.Duration
}

func (c slowWriteConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	time.Sleep(c.delay)
	return n, err
}

// eventuallyTrue polls cond for a few seconds: what the peer sends takes a
// moment to arrive.
func eventuallyTrue(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// lateDeadlineConn delays the setting of a read deadline more than a second
// ahead (the wait for an answer's headers) by delay, as if the goroutine
// setting it had been descheduled just before: the race between the
// request's goroutine and the body's made likely.
type lateDeadlineConn struct {
	net.Conn
	delay time.Duration

	mu  sync.Mutex
	set []time.Duration // each deadline set, relative to when
}

func (c *lateDeadlineConn) SetReadDeadline(d time.Time) error {
	ahead := time.Until(d)
	if !d.IsZero() && ahead > time.Second {
		time.Sleep(c.delay)
	}
	c.mu.Lock()
	c.set = append(c.set, ahead.Round(time.Second))
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(d)
}

// TestBodyReadFailureEndsWait checks that a request body that cannot be
// read ends the wait for the backend's answer at once, whatever the order
// in which the request's goroutine and the body's goroutine set their read
// deadlines. The body's goroutine sets the deadline to now when the body
// fails; if the request's goroutine sets its own (now plus the backend
// timeout) after that, the exchange waits for the whole backend timeout
// on a backend that is waiting for the rest of the body: the client then
// gets a 504 (or gives up) instead of a prompt 400. TestBodyLimit's streamed
// case ("Client.Timeout exceeded while awaiting headers") fails now and
// then for this reason.
func TestBodyReadFailureEndsWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	// A backend that reads whatever comes and never answers, as one
	// waiting for the rest of a chunked body does.
	go testio.ServeEach(ln, func(c net.Conn) { io.Copy(io.Discard, c) })
	boom := errors.New("client went wrong")
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{
		{"request goroutine first", 0},
		{"body goroutine first", 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The backend timeout is long, and the context shorter:
			// an exchange that waits for the timeout ends with the
			// context's error instead of the body's.
			u := newUpstream(ln.Addr().String(), nil, time.Minute, 0, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := u.dial(ctx)
			if err != nil {
				t.Fatal(err)
			}
			lc := &lateDeadlineConn{Conn: c.raw, delay: tc.delay}
			c.raw = lc
			defer c.nc.Close()
			o := &outgoing{ctx: ctx, method: "POST", target: "/", host: "b", body: iotest.ErrReader(boom), length: -1,
				head: &http.Request{Method: "POST"}}
			start := time.Now()
			resp, err := u.exchange(c, o)
			if resp != nil {
				resp.Body.Close()
			}
			var bre *bodyReadError
			if !errors.As(err, &bre) || !errors.Is(err, boom) {
				lc.mu.Lock()
				defer lc.mu.Unlock()
				t.Fatalf("exchange returned %v after %v, want the body's read error at once (read deadlines set, relative: %v)",
					err, time.Since(start).Round(time.Millisecond), lc.set)
			}
		})
	}
}
