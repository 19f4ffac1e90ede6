package certmgr_test

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/serve"
)

// advertisedMaxStreams opens an HTTP/2 connection to the gRPC server at
// addr and returns the SETTINGS_MAX_CONCURRENT_STREAMS it announces, and
// whether it announced one at all.
func advertisedMaxStreams(t *testing.T, addr string) (uint32, bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			return s.Value(http2.SettingMaxConcurrentStreams)
		}
	}
}

// TestConnectionStreamsBounded: certmgr's gRPC server bounds the streams
// of one connection at HTTP/2 (its change streams per connection plus
// room for calls), so a client cannot pile up streams whose handlers have
// ended, which the change stream limits no longer count.
func TestConnectionStreamsBounded(t *testing.T) {
	for _, perConn := range []int{0, 3} {
		s := startServer(t, withLimits(changefeed.Limits{PerConn: perConn}))
		want := uint32(serve.CallsPerConn + perConn)
		if perConn == 0 {
			want = uint32(serve.CallsPerConn + changefeed.DefaultStreamsPerConn)
		}
		got, ok := advertisedMaxStreams(t, s.conn.Target())
		if !ok || got != want {
			t.Errorf("--max-streams-per-conn %d: the server announces at most %d streams per connection (announced: %v), want %d", perConn, got, ok, want)
		}
	}
}
