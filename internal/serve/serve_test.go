package serve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAllStopsTheOthersOnFailure(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := All(context.Background(),
		func(ctx context.Context) error { <-ctx.Done(); close(stopped); return nil },
		func(context.Context) error { return boom },
	)
	if !errors.Is(err, boom) {
		t.Fatalf("All = %v, want boom", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other task was not stopped")
	}
}

func TestHTTPServesUntilCancelled(t *testing.T) {
	lis, err := Listen(context.Background(), "", "--addr")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(lis.Addr().String(), "127.0.0.1:") {
		t.Fatalf("an empty address listened on %s, want loopback", lis.Addr())
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- All(ctx, HTTP(srv, lis)) }()
	resp, err := http.Get("http://" + lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("All after cancel = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := Listen(context.Background(), lis.Addr().String(), "--addr"); err != nil {
		t.Fatalf("the port was not released: %v", err)
	}
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	if _, err := Listen(context.Background(), busy.Addr().String(), "--addr"); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Fatalf("a busy address: %v", err)
	}
}
