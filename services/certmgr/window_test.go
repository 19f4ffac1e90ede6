package certmgr_test

import (
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/certbind/certbind/internal/peertls"
	"github.com/certbind/certbind/internal/serve"
	"github.com/certbind/certbind/services/certmgr"
)

// TestServersFixTheWindow reads what a server announces on a new HTTP/2
// connection: a stream window of serve.Window in its SETTINGS and a
// connection window raised to it. gRPC announces neither when it sizes its
// windows on the go.
func TestServersFixTheWindow(t *testing.T) {
	svc, err := certmgr.New(certmgr.Config{
		DataDir:         filepath.Join(t.TempDir(), "data"),
		MasterKeyFile:   filepath.Join(t.TempDir(), "master.key"),
		CreateMasterKey: true,
		AdminKey:        "serve-test-admin-key-0123456789abcdef0123456789abcdef",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	for name, srv := range map[string]*grpc.Server{
		"serve.GRPCServerOptions": grpc.NewServer(serve.GRPCServerOptions()...),
		"certmgr":                 svc.NewGRPCServer(),
	} {
		t.Run(name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(lis)
			t.Cleanup(srv.Stop)
			c, err := net.Dial("tcp", lis.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
				t.Fatal(err)
			}
			fr := http2.NewFramer(c, c)
			if err := fr.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			checkWindows(t, c, fr)
		})
	}
}

// TestClientsFixTheWindow is the same for what a client announces: through
// serve.GRPCDialOptions, and through peertls, which every service dials
// its peers with.
func TestClientsFixTheWindow(t *testing.T) {
	for name, dial := range map[string]func(addr string) (*grpc.ClientConn, error){
		"serve.GRPCDialOptions": func(addr string) (*grpc.ClientConn, error) {
			return grpc.NewClient(addr, append(serve.GRPCDialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		},
		"peertls": func(addr string) (*grpc.ClientConn, error) { return peertls.Files{}.Dial(addr, "") },
	} {
		t.Run(name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			conn, err := dial(lis.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Connect()
			c, err := lis.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			preface := make([]byte, len(http2.ClientPreface))
			if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
				t.Fatalf("client preface %q, %v", preface, err)
			}
			fr := http2.NewFramer(c, c)
			if err := fr.WriteSettings(); err != nil {
				t.Fatal(err)
			}
			checkWindows(t, c, fr)
		})
	}
}

// checkWindows reads the peer's frames until it acknowledges our SETTINGS:
// gRPC writes its own SETTINGS, and the WINDOW_UPDATE that raises the
// connection's window past HTTP/2's 65,535 bytes, as soon as a connection
// opens, before it reads ours.
func checkWindows(t *testing.T, c net.Conn, fr *http2.Framer) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var stream, conn uint32 = 0, 65535
	settings := false
	for acked := false; !acked; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the peer's frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				acked = true
			} else if !settings {
				settings = true
				stream, _ = f.Value(http2.SettingInitialWindowSize)
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				conn += f.Increment
			}
		}
	}
	if !settings || stream != serve.Window || conn != serve.Window {
		t.Errorf("settings seen %v, stream window %d, connection window %d: want %d for both", settings, stream, conn, serve.Window)
	}
}
