package etcdkv

import (
	"context"
	"flag"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testetcd"
)

func parse(t *testing.T, args ...string) (*Flags, error) {
	t.Helper()
	var f Flags
	fs := flag.NewFlagSet("certmgr", flag.ContinueOnError)
	f.AddFlags(fs, "certmgr")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &f, f.Check()
}

func TestFlagsCheck(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string // in the error; "" for none
	}{
		{nil, ""},
		{[]string{"--store", "bbolt"}, ""},
		{[]string{"--store", "etcd", "--etcd-endpoints", "127.0.0.1:2379"}, ""},
		{[]string{"--store", "etcd", "--etcd-endpoints", "h1:2379,h2:2379", "--etcd-prefix", "/x/", "--etcd-cert", "c.pem", "--etcd-key", "k.pem"}, ""},
		{[]string{"--store", "postgres"}, "use bbolt (the default) or etcd"},
		{[]string{"--store", "etcd"}, "needs --etcd-endpoints"},
		{[]string{"--store", "etcd", "--etcd-endpoints", " "}, "needs --etcd-endpoints"},
		{[]string{"--etcd-endpoints", "127.0.0.1:2379"}, "add --store etcd"},
		{[]string{"--store", "etcd", "--etcd-endpoints", "h:2379", "--etcd-prefix", "certbind"}, "must start and end with"},
		{[]string{"--store", "etcd", "--etcd-endpoints", "h:2379", "--etcd-cert", "c.pem"}, "go together"},
		{[]string{"--store", "etcd", "--etcd-endpoints", "h:2379", "--etcd-key", "k.pem"}, "go together"},
	} {
		_, err := parse(t, tt.args...)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%q: %v, want an error with %q", tt.args, err, tt.want)
		}
	}
}

// TestConnect: a reachable member connects; an address nobody serves etcd
// on is refused within the timeout, saying what to check.
func TestConnect(t *testing.T) {
	f, err := parse(t, "--store", "etcd", "--etcd-endpoints", testetcd.Endpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := f.Connect(context.Background(), 5*time.Second)
	if err != nil {
		t.Fatalf("Connect to the member: %v", err)
	}
	cli.Close()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	f, _ = parse(t, "--store", "etcd", "--etcd-endpoints", addr)
	begin := time.Now()
	_, err = f.Connect(context.Background(), 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "check that --etcd-endpoints names running etcd members") {
		t.Errorf("Connect to %s = %v, want an error that says what to check", addr, err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Connect to nothing took %v", d)
	}
	f, _ = parse(t, "--store", "etcd", "--etcd-endpoints", addr, "--etcd-ca", t.TempDir()+"/missing.pem")
	if _, err := f.Connect(context.Background(), 500*time.Millisecond); err == nil || !strings.Contains(err.Error(), "--etcd-ca") {
		t.Errorf("a missing --etcd-ca = %v, want an error naming it", err)
	}
}
