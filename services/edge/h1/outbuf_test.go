package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// recordConn is a net.Conn that keeps every Write as a piece of its own
// and fails the writes from failAt on (0: never).
type recordConn struct {
	net.Conn
	pieces [][]byte
	failAt int
}

var errWrite = errors.New("connection reset")

func (r *recordConn) Write(p []byte) (int, error) {
	if r.failAt > 0 && len(r.pieces)+1 >= r.failAt {
		return 0, errWrite
	}
	r.pieces = append(r.pieces, bytes.Clone(p))
	return len(p), nil
}

func (r *recordConn) sent() string {
	var b strings.Builder
	for _, p := range r.pieces {
		b.Write(p)
	}
	return b.String()
}

func newTestOutBuf(nc net.Conn, size int) (*outBuf, context.Context) {
	c := &conn{nc: nc, ctx: newConnContext()}
	return newOutBuf(c, size), c.ctx
}

// op is one call on an outBuf: a write of data (str for WriteString), or a
// flush when data is empty.
type op struct {
	data string
	str  bool
}

func TestOutBuf(t *testing.T) {
	big := strings.Repeat("b", 40)
	for _, tc := range []struct {
		name     string
		ops      []op
		want     string
		buffered int // left in the buffer at the end
	}{
		{"small writes stay buffered", []op{{data: "head"}, {data: "body", str: true}}, "", 8},
		{"flush sends them", []op{{data: "head"}, {data: "body"}, {}}, "headbody", 0},
		{"a write that fills the buffer exactly stays", []op{{data: strings.Repeat("x", 16)}}, "", 16},
		{"a big write goes out with what is buffered", []op{{data: "head"}, {data: big}}, "head" + big, 0},
		{"a big write with nothing buffered goes out alone", []op{{data: big}, {data: "tail"}}, big, 4},
		{"a long string flushes and goes out alone", []op{{data: "head"}, {data: big, str: true}}, "head" + big, 0},
		{"a string that fits after a flush is buffered", []op{{data: strings.Repeat("h", 10)}, {data: "0123456789", str: true}}, strings.Repeat("h", 10), 10},
		{"an empty flush sends nothing", []op{{}, {}}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := &recordConn{}
			b, _ := newTestOutBuf(nc, 16)
			for _, o := range tc.ops {
				var n int
				var err error
				switch {
				case o.data == "":
					err = b.Flush()
				case o.str:
					n, err = b.WriteString(o.data)
				default:
					n, err = b.Write([]byte(o.data))
				}
				if err != nil || n != len(o.data) {
					t.Fatalf("op %+v = %d, %v; want %d, nil", o, n, err, len(o.data))
				}
			}
			if got := nc.sent(); got != tc.want {
				t.Errorf("sent %q, want %q", got, tc.want)
			}
			if b.Buffered() != tc.buffered || b.Available() != 16-tc.buffered {
				t.Errorf("buffered %d, available %d; want %d and %d", b.Buffered(), b.Available(), tc.buffered, 16-tc.buffered)
			}
			for _, p := range nc.pieces {
				if len(p) == 0 {
					t.Error("an empty write reached the connection")
				}
			}
		})
	}
}

// TestOutBufGathers checks that a big write after a buffered head reaches
// a TCP connection whole: the head and the body in the order written.
func TestOutBufGathers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var all bytes.Buffer
		all.ReadFrom(c)
		got <- all.Bytes()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newTestOutBuf(nc, 4096)
	head := "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
	body := bytes.Repeat([]byte("0123456789"), 10000)
	b.WriteString(head)
	if n, err := b.Write(body); err != nil || n != len(body) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b.Buffered() != 0 {
		t.Errorf("%d bytes still buffered after a gathering write", b.Buffered())
	}
	nc.Close()
	if want := append([]byte(head), body...); !bytes.Equal(<-got, want) {
		t.Error("the peer did not receive the head and then the body")
	}
}

func TestOutBufError(t *testing.T) {
	t.Run("a failed gathering write counts only the caller's bytes", func(t *testing.T) {
		nc := &recordConn{failAt: 1}
		b, ctx := newTestOutBuf(nc, 16)
		b.WriteString("head")
		n, err := b.Write([]byte(strings.Repeat("b", 40)))
		if !errors.Is(err, errWrite) || n != 0 {
			t.Errorf("Write = %d, %v; want 0 and the connection's error", n, err)
		}
		if ctx.Err() == nil {
			t.Error("a failed write left the connection's context running")
		}
	})
	t.Run("the error sticks", func(t *testing.T) {
		nc := &recordConn{failAt: 2}
		b, _ := newTestOutBuf(nc, 16)
		b.WriteString("one")
		if err := b.Flush(); err != nil {
			t.Fatalf("first flush: %v", err)
		}
		b.WriteString("two")
		if err := b.Flush(); !errors.Is(err, errWrite) {
			t.Fatalf("second flush = %v, want the connection's error", err)
		}
		if _, err := b.Write([]byte("x")); !errors.Is(err, errWrite) {
			t.Errorf("Write after the error = %v, want it again", err)
		}
		if _, err := b.WriteString("x"); !errors.Is(err, errWrite) {
			t.Errorf("WriteString after the error = %v, want it again", err)
		}
		if err := b.Flush(); !errors.Is(err, errWrite) {
			t.Errorf("Flush after the error = %v, want it again", err)
		}
		if got := nc.sent(); got != "one" {
			t.Errorf("sent %q, want only what went before the error", got)
		}
	})
}

// FuzzOutBuf drives an outBuf and a bufio.Writer with the same writes,
// string writes and flushes, read from the input, and checks that the
// connection gets the same bytes from both, and that an outBuf never holds
// more than it has room for.
func FuzzOutBuf(f *testing.F) {
	f.Add([]byte{0, 10, 1, 40, 2, 0, 0, 16, 0, 17})
	f.Add([]byte{1, 100, 0, 3, 0, 200, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const size = 16
		nc := &recordConn{}
		b, _ := newTestOutBuf(nc, size)
		var want bytes.Buffer
		ref := bufio.NewWriterSize(&want, size)
		for i := 0; i+1 < len(ops); i += 2 {
			data := bytes.Repeat([]byte{byte('a' + i%26)}, int(ops[i+1]))
			switch ops[i] % 3 {
			case 0:
				b.Write(data)
				ref.Write(data)
			case 1:
				b.WriteString(string(data))
				ref.WriteString(string(data))
			case 2:
				b.Flush()
				ref.Flush()
			}
			if b.Buffered() > size || b.Buffered()+b.Available() != size {
				t.Fatalf("buffered %d, available %d, with room for %d", b.Buffered(), b.Available(), size)
			}
		}
		b.Flush()
		ref.Flush()
		if got := nc.sent(); got != want.String() {
			t.Fatalf("sent %q, bufio sent %q", got, want.String())
		}
	})
}
