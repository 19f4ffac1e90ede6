package h1

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/edge/internal/testio"
)

// plainHeads are heads parsePlainHead must take, each as net/http reads it.
var plainHeads = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /acme/shop/prod/api/x?a=1&b=%20 HTTP/1.1\r\nHost: edge.example:8080\r\nUser-Agent: curl/8.5\r\nAccept: */*\r\n\r\n",
	"DELETE /x%2Fy/z HTTP/1.1\r\nhost: a\r\nx-lower: v\r\nX-UPPER: w\r\nx_under: u\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nAccept: a\r\nAccept: b\r\nCookie: c=1; d=2\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost:a\r\nX-Empty:\r\nX-Spaces: \t v \t \r\nX-All-Space:   \r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Close\r\n\r\n",
	"GET /a HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /next HTTP/1.1\r\n",
	"OPTIONS /* HTTP/1.1\r\nHost: [::1]:443\r\nExpect: 100-continue\r\n\r\n",
	"PURGE /a?x HTTP/1.1\r\nHost: a\r\nX-Odd: !#$%&'*+-.^_`|~\r\n\r\n",
}

// notPlainHeads are heads parsePlainHead must leave to net/http: unusual,
// with a body, or malformed.
var notPlainHeads = []struct{ name, head string }{
	{"incomplete", "GET / HTTP/1.1\r\nHost: a\r\n"},
	{"no fields", "GET / HTTP/1.1\r\n\r\n"},
	{"no host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{"invalid host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
	{"empty host", "GET / HTTP/1.1\r\nHost: \r\n\r\n"},
	{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n"},
	{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"},
	{"absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"authority form", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"asterisk form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"content length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"},
	{"content length in lower case", "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nhello"},
	{"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"trailer", "GET / HTTP/1.1\r\nHost: a\r\nTrailer: X\r\n\r\n"},
	{"pragma", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n"},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"},
	{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n"},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n"},
	{"bare LF in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n"},
	{"bare CR in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"},
	{"NUL in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"},
	{"obs-text in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n\r\n"},
	{"DEL in the target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"invalid method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"leading empty line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"bad escape", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n"},
}

func TestPlainHead(t *testing.T) {
	for _, head := range plainHeads {
		req, n, ok := parsePlainHead(context.Background(), []byte(head))
		if !ok {
			t.Errorf("%q: not taken", head)
			continue
		}
		checkAsNetHTTP(t, []byte(head), req, n)
	}
	for _, tc := range notPlainHeads {
		if _, _, ok := parsePlainHead(context.Background(), []byte(tc.head)); ok {
			t.Errorf("%s (%q): taken, want it left to net/http", tc.name, tc.head)
		}
	}
	// The context is the one given.
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "conn")
	if req, _, _ := parsePlainHead(ctx, []byte(plainHeads[0])); req.Context() != ctx {
		t.Error("the request does not have the context given")
	}
}

// checkAsNetHTTP fails t unless req and n are what http.ReadRequest makes
// of b: the same request, from the same number of bytes.
func checkAsNetHTTP(t *testing.T, b []byte, req *http.Request, n int) {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(b), len(b)+16)
	want, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("%q: taken as plain, but net/http refuses it: %v", b, err)
	}
	if used := len(b) - br.Buffered(); n != used {
		t.Errorf("%q: head of %d bytes, net/http read %d", b, n, used)
	}
	if req.Method != want.Method || req.RequestURI != want.RequestURI || req.Proto != want.Proto ||
		req.ProtoMajor != want.ProtoMajor || req.ProtoMinor != want.ProtoMinor || req.Host != want.Host ||
		req.Close != want.Close || req.ContentLength != want.ContentLength || req.Body != want.Body ||
		req.TransferEncoding != nil || want.TransferEncoding != nil || req.Trailer != nil || want.Trailer != nil {
		t.Errorf("%q:\n got %s %q %s %d.%d host %q close %v length %d body %T\nwant %s %q %s %d.%d host %q close %v length %d body %T", b,
			req.Method, req.RequestURI, req.Proto, req.ProtoMajor, req.ProtoMinor, req.Host, req.Close, req.ContentLength, req.Body,
			want.Method, want.RequestURI, want.Proto, want.ProtoMajor, want.ProtoMinor, want.Host, want.Close, want.ContentLength, want.Body)
	}
	if !reflect.DeepEqual(req.URL, want.URL) {
		t.Errorf("%q: URL %#v, want %#v", b, req.URL, want.URL)
	}
	if !reflect.DeepEqual(req.Header, want.Header) {
		t.Errorf("%q: header %q, want %q", b, req.Header, want.Header)
	}
}

// FuzzPlainHead holds parsePlainHead to http.ReadRequest: whatever it
// takes, net/http takes too and reads as the same request.
func FuzzPlainHead(f *testing.F) {
	for _, h := range plainHeads {
		f.Add([]byte(h))
	}
	for _, tc := range notPlainHeads {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, n, ok := parsePlainHead(context.Background(), b)
		if !ok {
			return
		}
		checkAsNetHTTP(t, b, req, n)
		// What the server checks after net/http's parser holds too:
		// the head would have been served either way.
		if err := checkRequest(req); err != nil {
			t.Fatalf("%q: taken as plain, but the server refuses it: %v", b, err)
		}
	})
}

func BenchmarkPlainHead(b *testing.B) {
	head := []byte(plainHeads[1])
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		parsePlainHead(ctx, head)
	}
}

func BenchmarkNetHTTPHead(b *testing.B) {
	head := plainHeads[1]
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		req.WithContext(context.Background())
	}
}

// TestReadRequestTakesPlainPath checks that the server reads a plain head
// with parsePlainHead, not net/http's parser, by what a read allocates: the
// plain path takes the request, its URL, the header map (two), the value
// slices and the head string, however many fields there are; net/http's
// takes a string per value besides. The same head as HTTP/1.0 must take
// net/http's path.
func TestReadRequestTakesPlainPath(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := newConn(&Server{}, server)
	defer c.nc.Close()
	read := func(head string) float64 {
		c.br = bufio.NewReaderSize(testio.Repeat([]byte(head)), readBufferSize)
		return testing.AllocsPerRun(200, func() {
			if _, err := c.readRequest(); err != nil {
				t.Fatal(err)
			}
		})
	}
	const fields = "Host: a\r\nUser-Agent: u\r\nAccept: */*\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"
	if n := read("GET /x HTTP/1.1\r\n" + fields); n > 6 {
		t.Errorf("a plain head took %v allocations, want at most 6 (the plain path)", n)
	}
	if n := read("GET /x HTTP/1.0\r\n" + fields); n <= 6 {
		t.Errorf("an HTTP/1.0 head took %v allocations: it should go to net/http's parser", n)
	}
}
