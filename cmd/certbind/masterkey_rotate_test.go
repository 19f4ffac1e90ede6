package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

var grpcLine = regexp.MustCompile(`gRPC\s+(\S+)`)

// devProc is a running `certbind dev` with its REST URL and gRPC address.
type devProc struct {
	cmd       *exec.Cmd
	url, grpc string
}

// startDevAddrs runs `certbind dev` on dataDir like startDev and also
// returns its gRPC address.
func startDevAddrs(t *testing.T, bin, dataDir string) *devProc {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--edge-addr", "127.0.0.1:0", "--edge-admin-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "CERTBIND_API_KEY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncWriter
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	d := &devProc{cmd: cmd}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := restLine.FindStringSubmatch(sc.Text()); m != nil {
				d.url = m[1]
			}
			if m := grpcLine.FindStringSubmatch(sc.Text()); m != nil {
				d.grpc = m[1]
			}
			if d.url != "" && d.grpc != "" {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
		return d
	case <-time.After(30 * time.Second):
		t.Fatalf("certbind dev did not print its addresses; stderr:\n%s", stderr.String())
	}
	return nil
}

func (d *devProc) kill9(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.cmd.Wait()
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// streamedKeys reads one snapshot of the distribution stream, as an edge
// does, and returns the public key of every certificate's private key by
// name; a key that does not parse fails the test.
func streamedKeys(t *testing.T, conn *grpc.ClientConn, key string) map[string]crypto.PublicKey {
	t.Helper()
	ctx, cancel := context.WithTimeout(bearer(key), 60*time.Second)
	defer cancel()
	stream, err := certmgrv1.NewDistributionServiceClient(conn).WatchCertificates(ctx, &certmgrv1.WatchCertificatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]crypto.PublicKey{}
	for {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if ev.GetSnapshotComplete() != nil {
			return out
		}
		item := ev.GetSnapshotItem()
		if item == nil {
			continue
		}
		name := item.GetCertificate().GetName()
		if len(item.GetPrivateKeyPkcs8()) == 0 {
			// A CA has no key; a certificate that should have one is then
			// missing from the result, which wantAllKeys reports.
			continue
		}
		k, err := x509.ParsePKCS8PrivateKey(item.GetPrivateKeyPkcs8())
		if err != nil {
			t.Fatalf("%s streams without a usable private key (%v)", name, err)
		}
		out[name] = k.(crypto.Signer).Public()
	}
}

type publicKey interface{ Equal(crypto.PublicKey) bool }

// uploads creates certificates named prefix0..prefixN-1 over gRPC, eight at
// a time, and records each acknowledged one's public key in want.
func uploads(t *testing.T, conn *grpc.ClientConn, key, prefix string, n int, want *sync.Map) int {
	t.Helper()
	ca := testpki.NewCA(t, "Rotation Root")
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := certmgrv1.NewCertificateServiceClient(conn)
			for i := range next {
				leaf := ca.Issue(t, testpki.Options{CommonName: "client"})
				name := fmt.Sprintf("%s%d", prefix, i)
				ctx, cancel := context.WithTimeout(bearer(key), 10*time.Second)
				_, err := client.CreateCertificate(ctx, &certmgrv1.CreateCertificateRequest{Account: "acme", Project: "shop", Name: name,
					EnvironmentTypes: []string{"production"}, CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)})
				cancel()
				if err != nil {
					continue // the process may be killed meanwhile; only acknowledged writes count
				}
				want.Store(name, leaf.Key.Public())
				mu.Lock()
				acked++
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return acked
}

// wantAllKeys fails unless every acknowledged certificate streams with its
// own key.
func wantAllKeys(t *testing.T, round int, got map[string]crypto.PublicKey, want *sync.Map) {
	t.Helper()
	n := 0
	want.Range(func(k, v any) bool {
		n++
		g, ok := got[k.(string)]
		if !ok {
			t.Fatalf("round %d: %s was acknowledged but is not streamed with a private key", round, k)
		}
		if !v.(publicKey).Equal(g) {
			t.Fatalf("round %d: %s streams another key", round, k)
		}
		return true
	})
	if n == 0 {
		t.Fatal("no certificate to check")
	}
}

// rotateREST starts a rotation through the REST facade.
func rotateREST(url, key string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/admin/master-key:rotate", strings.NewReader("{}"))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestDevMasterKeyRotationSurvivesKill9 fills the real `certbind dev` with
// certificates, then, round after round, starts a master-key rotation
// (while more certificates are uploaded) and kills dev with SIGKILL after a
// random delay. After every restart each acknowledged certificate must
// stream with its own key. Finally `certbind admin rotate-master-key`
// completes a rotation, a non-admin key is refused, and the data dir holds
// one master key and the retired ones.
func TestDevMasterKeyRotationSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildCLI(t)
	data := filepath.Join(t.TempDir(), "data")
	dev := startDevAddrs(t, bin, data)
	keyBytes, err := os.ReadFile(filepath.Join(data, "admin.key"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(keyBytes))
	var want sync.Map
	conn := dial(t, dev.grpc)
	if n := uploads(t, conn, admin, "base", 1500, &want); n != 1500 {
		t.Fatalf("%d of 1500 uploads acknowledged", n)
	}

	// The first rotation runs to its end, to time one.
	out, err := runBin(t, bin, dev.url, admin, "admin", "rotate-master-key", "--output", "json")
	if err != nil {
		t.Fatalf("rotate-master-key: %v\n%s", err, out)
	}
	var st certmgrv1.MasterKeyStatus
	if err := protojson.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("rotate-master-key --output json: %v\n%s", err, out)
	}
	full := st.GetFinishedAt().AsTime().Sub(st.GetStartedAt().AsTime())
	if st.GetState() != "idle" || st.GetRewrapped() < 1500 || full <= 0 {
		t.Fatalf("first rotation: %s", out)
	}
	t.Logf("a rotation of 1,500 certificates took %v (%d keys re-sealed)", full, st.GetRewrapped())

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	const rounds = 16
	cutOff := 0 // rounds whose kill left a rotation under way
	for round := range rounds {
		code, err := rotateREST(dev.url, admin)
		if err != nil || code != http.StatusOK {
			t.Fatalf("round %d: starting a rotation: %d %v", round, code, err)
		}
		// Writes go on during the rotation; the kill lands at a random
		// point of it (or, in some rounds, just after it).
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			uploads(t, conn, admin, fmt.Sprintf("r%dx", round), 40, &want)
		}()
		delay := time.Duration(rng.Int64N(int64(full + full/4)))
		time.Sleep(delay)
		dev.kill9(t)
		wg.Wait()
		conn.Close()
		if _, err := os.Stat(filepath.Join(data, "master.key.next")); err == nil {
			cutOff++
		}

		dev = startDevAddrs(t, bin, data)
		conn = dial(t, dev.grpc)
		got := streamedKeys(t, conn, admin)
		wantAllKeys(t, round, got, &want)
		t.Logf("round %d: killed %v after starting a rotation; after the restart %d certificates stream with their keys", round, delay.Round(time.Millisecond), len(got))
	}

	t.Logf("%d of %d kills cut a rotation off", cutOff, rounds)
	if cutOff == 0 {
		t.Errorf("no kill landed during a rotation; the test did not test it")
	}
	out, err = runBin(t, bin, dev.url, admin, "admin", "rotate-master-key")
	if err != nil || !strings.Contains(out, "Retired key") {
		t.Fatalf("a rotation after the kills: %v\n%s", err, out)
	}
	wantAllKeys(t, rounds, streamedKeys(t, conn, admin), &want)
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	retired := 0
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasPrefix(name, "master.key.retired-"):
			retired++
		case strings.HasPrefix(name, "master.key."):
			t.Errorf("%s left in the data dir after the rotation finished", name)
		}
	}
	if retired < 2 {
		t.Errorf("%d retired key files, want one per finished rotation (at least 2)", retired)
	}

	out, err = runBin(t, bin, dev.url, admin, "api-key", "create", "--account", "acme", "--output", "json")
	if err != nil {
		t.Fatalf("api-key create: %v\n%s", err, out)
	}
	account := regexp.MustCompile(`"key":\s*"([^"]+)"`).FindStringSubmatch(out)
	if account == nil {
		t.Fatalf("no key in %s", out)
	}
	out, err = runBin(t, bin, dev.url, account[1], "admin", "rotate-master-key")
	if err == nil || !strings.Contains(out, "only the admin key may rotate the master key") {
		t.Fatalf("an account key rotating the master key: %v\n%s", err, out)
	}
}
