package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// advertisedMaxStreams opens a plain HTTP/2 connection to the gRPC server
// at addr and returns the SETTINGS_MAX_CONCURRENT_STREAMS it announces, and
// whether it announced one.
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
			t.Fatalf("reading the SETTINGS of %s: %v", addr, err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			return s.Value(http2.SettingMaxConcurrentStreams)
		}
	}
}

// TestConnectionStreamsBoundedInProcesses: the gRPC servers of the real
// certmgr, deploytracker, edge and `certbind dev` bound the streams of one
// connection at HTTP/2: the change streams they admit per connection
// (--max-streams-per-conn; dev carries both services on one server) plus
// 256 for calls (health's Watch, which every server carries, is a stream
// that lasts). Unbounded, a client could open streams on one connection
// without end, and each one cut off keeps what gRPC queued for it.
func TestConnectionStreamsBoundedInProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	root := chmod(t, t.TempDir(), 0o700)
	key := filepath.Join(root, "master.key")
	initKey(t, key)
	cm, dt := freeAddr(t), freeAddr(t)
	startService(t, "certmgr", cm, "--data-dir", filepath.Join(root, "cm"), "--master-key-file", key,
		"--listen", cm, "--admin-listen", "127.0.0.1:0", "--max-streams-per-conn", "5")
	startService(t, "deploytracker", dt, "--data-dir", filepath.Join(root, "dt"), "--certmgr-addr", cm,
		"--listen", dt, "--admin-listen", "127.0.0.1:0")
	// The edge serves its StatusService over gRPC; with a key certmgr
	// does not know it keeps retrying its streams, and serves all the same.
	t.Setenv("CERTBIND_EDGE_KEY", "not-a-known-key")
	edge := freeAddr(t)
	startService(t, "edge", edge, "--grpc-listen", edge, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
		"--certmgr-addr", cm, "--deploytracker-addr", dt)
	dev := startDevAddrs(t, filepath.Join(binaries(t), "certbind"), filepath.Join(root, "dev"))

	for _, tt := range []struct {
		name, addr string
		want       uint32
	}{
		{"certmgr --max-streams-per-conn 5", cm, 5 + 256},
		{"deploytracker", dt, 256 + 256},
		{"certbind dev", dev.grpc, 256 + 256 + 256},
		{"edge (StatusService, no change streams)", edge, 256},
	} {
		if got, ok := advertisedMaxStreams(t, tt.addr); !ok || got != tt.want {
			t.Errorf("%s announces at most %d streams per connection (announced: %v), want %d", tt.name, got, ok, tt.want)
		}
	}
}
