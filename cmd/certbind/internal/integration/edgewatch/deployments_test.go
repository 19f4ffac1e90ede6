package edgewatch_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker"
	"github.com/certbind/certbind/services/edge/state"
	"github.com/certbind/certbind/services/edge/watch"
)

// deploytrackerOn runs a deploytracker with its data in dir on addr ("" for
// any port), checking keys with the certmgr at certmgrAddr.
func deploytrackerOn(t *testing.T, dir, addr, certmgrAddr string, retention int) (string, func()) {
	t.Helper()
	conn, err := grpc.NewClient(certmgrAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: serviceKey}))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := deploytracker.New(deploytracker.Config{DataDir: filepath.Join(dir, "dt"), Certmgr: conn, ServiceKey: serviceKey,
		Retention: retention, Stream: changefeed.Options{Heartbeat: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	for i := 0; ; i++ {
		if lis, err = net.Listen("tcp", addr); err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := svc.NewGRPCServer()
	go srv.Serve(lis)
	stopped := false
	stop := func() {
		if !stopped {
			srv.Stop()
			svc.Close()
			conn.Close()
			stopped = true
		}
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

func deployEnv(t *testing.T, c deploytrackerv1.DeploymentServiceClient, env string) *deploytrackerv1.Deployment {
	t.Helper()
	cfg, err := structpb.NewStruct(map[string]any{"routes": []any{map[string]any{"path": "/api/*",
		"handler": map[string]any{"export": "UrlForwardHandler", "options": map[string]any{"baseUrl": "https://127.0.0.1:9443"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Deploy(admin(), &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: env, EnvironmentType: "production", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetDeployment()
}

// TestDeploymentsFollowAcrossRestartAndResync: the follower takes the
// snapshot, applies live deploys and deletes, and when the deploytracker
// comes back after more changes than it retains, resyncs and swaps in the
// new state whole.
func TestDeploymentsFollowAcrossRestartAndResync(t *testing.T) {
	dir := t.TempDir()
	cmAddr, _ := certmgrOn(t, dir, "", 0)
	dtAddr, stop := deploytrackerOn(t, dir, "", cmAddr, 3)
	dial := func(addr string) *grpc.ClientConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(auth.BearerCredentials{Key: adminKey}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	deploys := deploytrackerv1.NewDeploymentServiceClient(dial(dtAddr))
	gone := deployEnv(t, deploys, "gone")

	st := state.NewStore()
	f := watch.NewDeployments(dial(dtAddr), st, watch.Scope{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	until(t, st, "the snapshot", func(s *state.Snapshot) bool { return len(s.Deployments) == 1 })
	live := deployEnv(t, deploys, "live")
	until(t, st, "a live deploy", func(s *state.Snapshot) bool {
		d := s.Deployment(state.Key{Account: "acme", Project: "shop", Environment: "live"})
		return d != nil && d.ID == live.GetId() && len(d.Routes) == 1
	})

	// The deploytracker goes away and comes back; meanwhile (as far as the
	// follower is concerned) more changes happen than it retains.
	stop()
	time.Sleep(100 * time.Millisecond)
	dtAddr2, _ := deploytrackerOn(t, dir, dtAddr, cmAddr, 3)
	deploys = deploytrackerv1.NewDeploymentServiceClient(dial(dtAddr2))
	if _, err := deploys.DeleteDeployment(admin(), &deploytrackerv1.DeleteDeploymentRequest{Account: "acme", Project: "shop", Id: gone.GetId()}); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"e1", "e2", "e3", "e4"} {
		deployEnv(t, deploys, env)
	}
	until(t, st, "the state after the resync", func(s *state.Snapshot) bool {
		return s.Deployment(state.Key{Account: "acme", Project: "shop", Environment: "gone"}) == nil &&
			s.Deployment(state.Key{Account: "acme", Project: "shop", Environment: "e4"}) != nil && len(s.Deployments) == 5
	})
	if st := f.Status(); st.Resyncs < 2 || !st.Synced {
		t.Fatalf("status after the resync: %+v (want a second resync)", st)
	}
}
