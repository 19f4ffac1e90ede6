package h1

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
)

// TestKeepAlive sends requests one after the other on one connection: each
// is answered on it, and none of the answers announces a close.
func TestKeepAlive(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), nil)
	c := ts.dial(t)
	for i := range 5 {
		method, body := "GET", ""
		req := fmt.Sprintf("GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		if i%2 == 1 {
			method, body = "POST", fmt.Sprintf("body %d", i)
			req = fmt.Sprintf("POST /%d HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", i, len(body), body)
		}
		c.write(req)
		r := c.read(method)
		want := fmt.Sprintf("%s /%d %s", method, i, body)
		if r.StatusCode != 200 || r.body != want {
			t.Fatalf("request %d: answer %d %q, want 200 %q", i, r.StatusCode, r.body, want)
		}
		if got := r.field("Connection"); got != "" {
			t.Errorf("request %d: Connection: %q, want none", i, got)
		}
		if r.field("Date") == "" {
			t.Errorf("request %d: no Date", i)
		}
	}
	c.expectOpen()
}

// TestPipelining writes several requests in one write; they must be
// answered in order, each answer whole.
func TestPipelining(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, strings.Repeat("B", 10000))
			return
		}
		echo(w, r)
	}), nil)
	c := ts.dial(t)
	c.write("GET /a HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz" +
		"HEAD /c HTTP/1.1\r\nHost: a\r\n\r\n" +
		"GET /big HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nuv\r\n0\r\n\r\n" +
		"GET /e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	for _, want := range []struct{ method, body string }{
		{"GET", "GET /a "},
		{"POST", "POST /b xyz"},
		{"HEAD", ""},
		{"GET", strings.Repeat("B", 10000)},
		{"POST", "POST /d uv"},
		{"GET", "GET /e "},
	} {
		r := c.read(want.method)
		if r.StatusCode != 200 || r.body != want.body {
			t.Fatalf("%s: answer %d %.40q, want 200 %.40q", want.method, r.StatusCode, r.body, want.body)
		}
	}
	c.expectClosed()
}

// TestHTTP10 covers the connection of an HTTP/1.0 client, which is closed
// after each answer unless the client asks for keep-alive, and then only
// if the answer's length is known.
func TestHTTP10(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, strings.Repeat("B", 5000))
			return
		}
		echo(w, r)
	}), nil)

	t.Run("no keep-alive", func(t *testing.T) {
		c := ts.dial(t)
		c.write("GET /x HTTP/1.0\r\n\r\n")
		r := c.read("GET")
		if r.StatusCode != 200 || r.body != "GET /x " || r.field("Connection") != "close" || r.field("Content-Length") != "7" {
			t.Errorf("answer %d %q Connection %q Content-Length %q, want 200 %q close 7",
				r.StatusCode, r.body, r.field("Connection"), r.field("Content-Length"), "GET /x ")
		}
		c.expectClosed()
	})

	t.Run("keep-alive with a body", func(t *testing.T) {
		c := ts.dial(t)
		c.write("POST /x HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc")
		r := c.read("POST")
		if r.StatusCode != 200 || r.body != "POST /x abc" || r.field("Connection") != "keep-alive" || r.field("Content-Length") != "11" {
			t.Errorf("answer %d %q Connection %q Content-Length %q, want 200 %q keep-alive 11",
				r.StatusCode, r.body, r.field("Connection"), r.field("Content-Length"), "POST /x abc")
		}
		c.write("GET /y HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
		if r := c.read("GET"); r.body != "GET /y " || r.field("Connection") != "keep-alive" {
			t.Errorf("second answer %q Connection %q, want %q keep-alive", r.body, r.field("Connection"), "GET /y ")
		}
		c.write("GET /z HTTP/1.0\r\n\r\n")
		if r := c.read("GET"); r.body != "GET /z " || r.field("Connection") != "close" {
			t.Errorf("third answer %q Connection %q, want %q close", r.body, r.field("Connection"), "GET /z ")
		}
		c.expectClosed()
	})

	t.Run("keep-alive with a long answer of unknown length", func(t *testing.T) {
		// There is no chunked coding in HTTP/1.0: the close is what
		// ends the body.
		c := ts.dial(t)
		c.write("GET /big HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		r := c.read("GET")
		if r.body != strings.Repeat("B", 5000) || r.field("Connection") != "close" || r.field("Content-Length") != "" || r.field("Transfer-Encoding") != "" {
			t.Errorf("answer of %d bytes, Connection %q Content-Length %q Transfer-Encoding %q, want 5000 bytes delimited by the close",
				len(r.body), r.field("Connection"), r.field("Content-Length"), r.field("Transfer-Encoding"))
		}
		c.expectClosed()
	})
}

// TestClientClose covers a client's Connection: close, in any case and
// among other tokens.
func TestClientClose(t *testing.T) {
	for _, value := range []string{"close", "Close", "keep-alive, close"} {
		t.Run(value, func(t *testing.T) {
			ts := startServer(t, http.HandlerFunc(echo), nil)
			c := ts.dial(t)
			c.write("GET /x HTTP/1.1\r\nHost: a\r\nConnection: " + value + "\r\n\r\n")
			r := c.read("GET")
			if r.body != "GET /x " || r.field("Connection") != "close" {
				t.Errorf("answer %q Connection %q, want %q close", r.body, r.field("Connection"), "GET /x ")
			}
			c.expectCleanClose()
		})
	}
}

// TestNetHTTPClient covers the server with net/http's client: requests of
// each kind are answered, on one connection kept alive.
func TestNetHTTPClient(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, strings.Repeat("b", 100000))
			return
		}
		echo(w, r)
	}), nil)
	client := ts.client(t)
	var mu sync.Mutex
	var conns []string
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		conns = append(conns, info.Conn.LocalAddr().String())
		mu.Unlock()
	}}
	for _, tt := range []struct {
		method, path, body, want string
	}{
		{"GET", "/a", "", "GET /a "},
		{"POST", "/b", "hello", "POST /b hello"},
		{"PUT", "/c", strings.Repeat("p", 100000), "PUT /c " + strings.Repeat("p", 100000)},
		{"GET", "/big", "", strings.Repeat("b", 100000)},
		{"HEAD", "/d", "", ""},
		{"DELETE", "/e", "", "DELETE /e "},
	} {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), tt.method, ts.url(tt.path), body)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != tt.want {
			t.Errorf("%s %s: %d %.40q (%v), want 200 %.40q", tt.method, tt.path, resp.StatusCode, b, err, tt.want)
		}
	}
	for _, addr := range conns {
		if addr != conns[0] {
			t.Errorf("the client used connections %v, want one", conns)
			break
		}
	}
}

// TestManyConnections covers concurrent clients, each on its own
// connections, with bodies in both directions.
func TestManyConnections(t *testing.T) {
	ts := startServer(t, http.HandlerFunc(echo), nil)
	client := ts.client(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				body := strings.Repeat(fmt.Sprint(i), 1000*j)
				resp, err := client.Post(ts.url(fmt.Sprintf("/%d/%d", i, j)), "text/plain", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("POST /%d/%d %s", i, j, body); string(b) != want {
					errs <- fmt.Errorf("answer %.40q, want %.40q", b, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
