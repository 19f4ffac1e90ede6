package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/edge/internal/testio"
)

// plainResponses are heads (and bodies) parsePlainResponse must take.
var plainResponses = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Thu, 03 Dec 2026 19:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nx-lower: v\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nno!",
	"HTTP/1.1 201\r\nContent-Length: 007\r\nX-Empty:\r\nX-Spaces: \t v \t \r\n\r\n1234567",
	"HTTP/1.1 599 odd  reason\twith tab\r\nContent-Length: 1\r\nKeep-Alive: timeout=5\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n",
}

// notPlainResponses are heads parsePlainResponse must leave to net/http.
var notPlainResponses = []struct{ name, head string }{
	{"incomplete", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"},
	{"no length", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"},
	{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"},
	{"signed length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx"},
	{"length with a space", "HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\nx"},
	{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n"},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"length and chunked", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	{"trailer", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTrailer: X\r\n\r\nx"},
	{"connection", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"},
	{"pragma", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nPragma: no-cache\r\n\r\nx"},
	{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"},
	{"interim", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"},
	{"switching", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"},
	{"204", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"},
	{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"},
	{"status 600", "HTTP/1.1 600 Six\r\nContent-Length: 0\r\n\r\n"},
	{"two-digit status", "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"},
	{"status glued to reason", "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n"},
	{"obs-fold", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: a\r\n b\r\n\r\n"},
	{"bare LF in a value", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: a\nY: b\r\n\r\n"},
	{"obs-text in the reason", "HTTP/1.1 200 \xc3\xa9\r\nContent-Length: 0\r\n\r\n"},
	{"space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"},
}

func TestPlainResponse(t *testing.T) {
	for _, r := range plainResponses {
		a, n, ok := parsePlainResponse([]byte(r), http.MethodGet)
		if !ok {
			t.Errorf("%q: not taken", r)
			continue
		}
		checkResponseAsNetHTTP(t, []byte(r), &a.resp, n)
	}
	for _, tc := range notPlainResponses {
		if _, _, ok := parsePlainResponse([]byte(tc.head), http.MethodGet); ok {
			t.Errorf("%s (%q): taken, want it left to net/http", tc.name, tc.head)
		}
	}
	if _, _, ok := parsePlainResponse([]byte(plainResponses[0]), http.MethodHead); ok {
		t.Error("the answer to a HEAD was taken, want it left to net/http")
	}
}

// checkResponseAsNetHTTP fails t unless resp and n are what
// http.ReadResponse makes of b for a GET, and the body as lengthBody reads
// it is what net/http reads.
func checkResponseAsNetHTTP(t *testing.T, b []byte, resp *http.Response, n int) {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(b), len(b)+16)
	want, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("%q: taken as plain, but net/http refuses it: %v", b, err)
	}
	if used := len(b) - br.Buffered(); n != used {
		t.Errorf("%q: head of %d bytes, net/http read %d", b, n, used)
	}
	if resp.Status != want.Status || resp.StatusCode != want.StatusCode || resp.Proto != want.Proto ||
		resp.ProtoMajor != want.ProtoMajor || resp.ProtoMinor != want.ProtoMinor || resp.Close != want.Close ||
		resp.ContentLength != want.ContentLength || want.TransferEncoding != nil || want.Trailer != nil || want.Uncompressed {
		t.Errorf("%q:\n got %q %d %s %d.%d close %v length %d\nwant %q %d %s %d.%d close %v length %d te %q trailer %q", b,
			resp.Status, resp.StatusCode, resp.Proto, resp.ProtoMajor, resp.ProtoMinor, resp.Close, resp.ContentLength,
			want.Status, want.StatusCode, want.Proto, want.ProtoMajor, want.ProtoMinor, want.Close, want.ContentLength, want.TransferEncoding, want.Trailer)
	}
	if !reflect.DeepEqual(resp.Header, want.Header) {
		t.Errorf("%q: header %q, want %q", b, resp.Header, want.Header)
	}
	if (resp.ContentLength == 0) != (want.Body == http.NoBody) {
		t.Errorf("%q: length %d, but net/http's body is %T", b, resp.ContentLength, want.Body)
	}
	wantBody, wantErr := io.ReadAll(want.Body)
	gotBody, gotErr := io.ReadAll(&lengthBody{r: bufio.NewReader(bytes.NewReader(b[n:])), n: resp.ContentLength})
	if !bytes.Equal(gotBody, wantBody) || !errors.Is(gotErr, wantErr) && !errors.Is(wantErr, gotErr) {
		t.Errorf("%q: body %q (%v), want %q (%v)", b, gotBody, gotErr, wantBody, wantErr)
	}
}

// TestLengthBody covers the ends of a plain answer's body: EOF with its
// last bytes, and a connection that ends early.
func TestLengthBody(t *testing.T) {
	lb := &lengthBody{r: bufio.NewReader(strings.NewReader("helloNEXT")), n: 5}
	p := make([]byte, 10)
	if n, err := lb.Read(p); n != 5 || err != io.EOF || string(p[:n]) != "hello" {
		t.Errorf("read %d %v %q, want 5 bytes with io.EOF", n, err, p[:n])
	}
	if n, err := lb.Read(p); n != 0 || err != io.EOF {
		t.Errorf("read after the end: %d %v, want io.EOF", n, err)
	}
	short := &lengthBody{r: bufio.NewReader(strings.NewReader("hel")), n: 5}
	if b, err := io.ReadAll(short); string(b) != "hel" || err != io.ErrUnexpectedEOF {
		t.Errorf("short body: %q %v, want %q and io.ErrUnexpectedEOF", b, err, "hel")
	}
}

// FuzzPlainResponse holds parsePlainResponse to http.ReadResponse:
// whatever it takes, net/http takes too and reads as the same response,
// with the same body.
func FuzzPlainResponse(f *testing.F) {
	for _, r := range plainResponses {
		f.Add([]byte(r))
	}
	for _, tc := range notPlainResponses {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, n, ok := parsePlainResponse(b, http.MethodGet)
		if !ok {
			return
		}
		checkResponseAsNetHTTP(t, b, &a.resp, n)
	})
}

func BenchmarkPlainResponse(b *testing.B) {
	head := []byte(plainResponses[1])
	b.ReportAllocs()
	for b.Loop() {
		parsePlainResponse(head, http.MethodGet)
	}
}

// TestReadAnswerTakesPlainPath checks that readAnswer reads a plain head
// with parsePlainResponse, by what a read allocates: the response, the
// header map (two), the value slices and the head string, however many
// fields there are, where net/http's parser takes a string per value and
// a body besides. An answer with a Connection field must take net/http's
// path.
func TestReadAnswerTakesPlainPath(t *testing.T) {
	req := &http.Request{Method: http.MethodGet}
	read := func(answer string) float64 {
		br := bufio.NewReaderSize(testio.Repeat([]byte(answer)), upReadBuffer)
		return testing.AllocsPerRun(200, func() {
			resp, _, err := readAnswer(br, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Body == nil {
				br.Discard(int(resp.ContentLength))
			} else {
				io.Copy(io.Discard, resp.Body)
			}
		})
	}
	const fields = "Content-Type: text/plain\r\nDate: Thu, 03 Dec 2026 19:00:00 GMT\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nContent-Length: 2\r\n"
	if n := read("HTTP/1.1 200 OK\r\n" + fields + "\r\nok"); n > 5 {
		t.Errorf("a plain answer took %v allocations, want at most 5 (the plain path)", n)
	}
	if n := read("HTTP/1.1 200 OK\r\n" + fields + "Connection: keep-alive\r\n\r\nok"); n <= 5 {
		t.Errorf("an answer with a Connection field took %v allocations: it should go to net/http's parser", n)
	}
}
