package proxy

// Tests of the checks that keep a backend's bytes from the wrong request:
// drained over TLS (what the TLS connection holds past an answer) and the
// record tracking it relies on, and what the checks cost.

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

// tlsPair returns an upConn over TLS to a server end, handshaken.
func tlsPair(tb testing.TB) (*upConn, *tls.Conn) {
	tb.Helper()
	ca := testpki.NewCA(tb, "Test Root")
	leaf := ca.Issue(tb, testpki.Options{CommonName: "backend", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		// Records of the largest size from the start, so that the
		// tests know where they end.
		sc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.DER}, PrivateKey: leaf.Key}},
			DynamicRecordSizingDisabled: true})
		if sc.Handshake() != nil {
			close(accepted)
			return
		}
		accepted <- sc
	}()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	u := newUpstream(ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}, waitLongInternal, 0, nil)
	c, err := u.connect(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		tb.Fatal("the server's handshake failed")
	}
	tb.Cleanup(func() { c.raw.Close(); s.Close() })
	return c, s
}

// BenchmarkIdleChecks measures what the checks cost a request: drained
// when a connection comes back, quiet when it is taken again.
func BenchmarkIdleChecks(b *testing.B) {
	b.Run("quiet", func(b *testing.B) {
		c, _ := tcpPair(b)
		uc := newUpConn(c, c)
		if !uc.quiet() {
			b.Skip("no peek on this platform")
		}
		b.ReportAllocs()
		for b.Loop() {
			if !uc.quiet() {
				b.Fatal("not quiet")
			}
		}
	})
	// The probe of the TLS connection, which the usual case skips
	// (see TestDrainedTLS): the first answer on a connection comes with
	// its session tickets.
	b.Run("drained TLS probe", func(b *testing.B) {
		c, s := tlsPair(b)
		// An answer read, as an exchange reads it.
		go io.WriteString(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if _, err := c.br.Peek(40); err != nil {
			b.Fatal(err)
		}
		c.br.Discard(40)
		b.ReportAllocs()
		for b.Loop() {
			if !c.drained() {
				b.Fatal("not drained")
			}
		}
	})
}

// TestDrainedTLS checks that drained sees what a TLS connection holds
// past the answer read: nothing, a whole record, or the rest of a record
// of which only a part was read.
func TestDrainedTLS(t *testing.T) {
	const answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	t.Run("nothing", func(t *testing.T) {
		c, s := tlsPair(t)
		go io.WriteString(s, answer)
		if _, err := c.br.Discard(len(answer)); err != nil {
			t.Fatal(err)
		}
		if !c.drained() {
			t.Error("a connection with nothing past its answer is not drained")
		}
		// The probe left it as it was: the next answer reads.
		go io.WriteString(s, answer)
		if got, err := c.br.Peek(len(answer)); err != nil || string(got) != answer {
			t.Errorf("after the probe, read %q (%v)", got, err)
		}
	})
	t.Run("a whole record", func(t *testing.T) {
		c, s := tlsPair(t)
		// Two records, both arrived before the client reads: the TLS
		// connection reads them together and returns the first.
		io.WriteString(s, answer)
		io.WriteString(s, "unasked")
		time.Sleep(50 * time.Millisecond)
		if _, err := c.br.Discard(len(answer)); err != nil {
			t.Fatal(err)
		}
		if c.br.Buffered() != 0 {
			t.Skip("the reader got both records; nothing for drained to find")
		}
		if c.drained() {
			t.Error("a connection whose TLS connection holds a record is drained")
		}
	})
	t.Run("the rest of a record", func(t *testing.T) {
		c, s := tlsPair(t)
		// Records of 16384 and 13616 bytes, then one of 16000 of which
		// the reader's buffer, with 30000 bytes in it, takes 2768: the
		// TLS connection keeps the rest.
		go io.WriteString(s, strings.Repeat("a", 30000))
		if _, err := c.br.Peek(30000); err != nil {
			t.Fatal(err)
		}
		// The third record comes alone, so that the last read from
		// the network completes it and nothing else.
		go io.WriteString(s, strings.Repeat("b", 16000))
		if _, err := c.br.Peek(upReadBuffer); err != nil {
			t.Fatal(err)
		}
		c.br.Discard(upReadBuffer)
		if c.drained() {
			t.Error("a connection whose TLS connection holds the rest of a record is drained")
		}
	})
	t.Run("steady state", func(t *testing.T) {
		c, s := tlsPair(t)
		for i := range 3 {
			go io.WriteString(s, answer)
			if _, err := c.br.Discard(len(answer)); err != nil {
				t.Fatal(err)
			}
			if !c.drained() {
				t.Fatalf("answer %d: a connection with nothing past its answer is not drained", i)
			}
		}
		// After the first answer (which may come with the session
		// tickets) the usual case is known without a probe.
		if c.wire.whole != 1 || c.tlsIn.full {
			t.Errorf("the last read completed %d records and filled its buffer: %v; want 1 and false", c.wire.whole, c.tlsIn.full)
		}
	})
}

// TestTLSWireRecords checks that tlsWire finds the ends of records however
// the bytes are cut.
func TestTLSWireRecords(t *testing.T) {
	// Two records: a 3-byte one and a 0-byte one, then a header of 300.
	stream := []byte{23, 3, 3, 0, 3, 'a', 'b', 'c', 21, 3, 3, 0, 0, 23, 3, 3, 1, 44}
	ends := map[int]bool{0: true, 8: true, 13: true} // boundaries, by bytes passed on
	for cut := 1; cut <= len(stream); cut++ {
		var w tlsWire
		for off := 0; off < len(stream); off += cut {
			end := min(off+cut, len(stream))
			w.whole = 0
			w.track(stream[off:end])
			if got := w.boundary(); got != ends[end] {
				t.Errorf("cut every %d: after %d bytes boundary is %v, want %v", cut, end, got, ends[end])
			}
			want := 0
			for e := range ends {
				if e > off && e <= end {
					want++
				}
			}
			if w.whole != want {
				t.Errorf("cut every %d: bytes %d to %d complete %d records, want %d", cut, off, end, w.whole, want)
			}
		}
		if w.left != 300 {
			t.Errorf("cut every %d: after the last header %d bytes are to come, want 300", cut, w.left)
		}
	}
}
