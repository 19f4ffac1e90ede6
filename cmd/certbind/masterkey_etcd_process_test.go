package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/certbind/certbind/cmd/certbind/internal/e2etest"
	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/seal"
)

// TestMasterKeyRotationOnEtcdUnderEdgeLoad runs two certmgr replicas on
// one etcd prefix, each with its own copy of the master key file in a
// directory of its own (as on two machines), two deploytracker replicas,
// the REST facade and an edge given both certmgr replicas, all as
// processes, with steady mTLS traffic through the edge. The operator's
// steps: `certbind admin rotate-master-key` is refused until a next key
// exists, then refused naming the replica that lacks it; `certmgr
// --init-master-key --next` writes it, it is copied to the other replica,
// the replicas are restarted one at a time, and the rotation goes through
// while certificates are uploaded. No edge request fails, the edge keeps
// the certificate at its version, both replicas stream every key as
// uploaded, both moved their key files on, and a rotation in place still
// reaches the edge.
func TestMasterKeyRotationOnEtcdUnderEdgeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	r := &replicated{store: []string{"--store", "etcd", "--etcd-endpoints", testetcd.Endpoint(t), "--etcd-prefix", testetcd.Prefix(t)}}
	r.cluster = newCluster(t)
	var keyFiles [2]string
	for i := range 2 {
		r.certmgrs[i], r.trackers[i] = freeAddr(t), freeAddr(t)
		r.certmgrAdmins[i], r.trackerAdmins[i] = freeAddr(t), freeAddr(t)
		keyFiles[i] = filepath.Join(r.dir, fmt.Sprintf("host%d", i), "master.key")
		if err := os.MkdirAll(filepath.Dir(keyFiles[i]), 0o700); err != nil {
			t.Fatal(err)
		}
		copyKey(t, filepath.Join(r.dir, "master.key"), keyFiles[i])
	}
	startCertmgr := func(i int) {
		t.Helper()
		r.launch(fmt.Sprintf("certmgr%d", i), "certmgr", r.certmgrs[i], append([]string{"--listen", r.certmgrs[i], "--admin-listen", r.certmgrAdmins[i],
			"--master-key-file", keyFiles[i], "--replica-name", fmt.Sprintf("certmgr%d", i), "--deploytracker-addr", strings.Join(r.trackers[:], ",")}, r.store...))
	}
	// restartCertmgr stops a replica with SIGTERM, as a rolling restart
	// does, and starts it again.
	restartCertmgr := func(i int) {
		t.Helper()
		name := fmt.Sprintf("certmgr%d", i)
		p := r.procs[name]
		p.Process.Signal(syscall.SIGTERM)
		p.Wait()
		delete(r.procs, name)
		startCertmgr(i)
	}
	for i := range 2 {
		startCertmgr(i)
		r.startTracker(i)
	}
	rest := freeAddr(t)
	r.restURL = "http://" + rest
	r.launch("restapi", "restapi", rest, []string{"--listen", rest, "--admin-listen", r.restAdmin,
		"--certmgr-addr", strings.Join(r.certmgrs[:], ","), "--deploytracker-addr", strings.Join(r.trackers[:], ",")})

	dir := t.TempDir()
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(filepath.Join(r.bin, "certbind"), args...)
		cmd.Env = append(os.Environ(), "CERTBIND_API_URL="+r.restURL, "CERTBIND_API_KEY="+r.adminKey)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("certbind %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	refused := func(want string, args ...string) {
		t.Helper()
		out, err := cli(args...)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 4 || !strings.Contains(out, want) {
			t.Fatalf("certbind %s = %v\n%s\nwant exit code 4 and %q", strings.Join(args, " "), err, out, want)
		}
	}
	file := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	with := func(args ...string) []string { return append(args, "--account", "acme", "--project", "shop") }

	var key struct{ Key string }
	if err := json.Unmarshal([]byte(must("api-key", "create", "--account", "acme", "--role", "edge", "--output", "json")), &key); err != nil || key.Key == "" {
		t.Fatalf("edge key: %v", err)
	}
	r.edgeKey = key.Key
	r.launch("edge", "edge", r.edgeAdminAddr, []string{"--listen", r.edgeAddr, "--admin-listen", r.edgeAdminAddr,
		"--certmgr-addr", strings.Join(r.certmgrs[:], ","), "--deploytracker-addr", strings.Join(r.trackers[:], ","),
		"--backend-allow", "127.0.0.0/8"})

	clientCA, backendCA := testpki.NewCA(t, "Client CA"), testpki.NewCA(t, "Backend CA")
	backend := e2etest.MTLSBackend(t, e2etest.ServerCert(t, backendCA), clientCA)
	l := clientCA.Issue(t, testpki.Options{CommonName: "client-1"})
	must(with("mtls-certificate", "create", "--cert", file("c1.pem", l.CertPEM), "--key", file("c1.key", l.KeyPEM), "--name", "myBackendCert", "--environment-type", "production")...)
	must(with("mtls-certificate", "create", "--ca", "--cert", file("backend-ca.pem", backendCA.CertPEM), "--name", "backendCa", "--environment-type", "production")...)
	gateway := file("gateway.json", []byte(`{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
		"options": {"baseUrl": "`+backend.URL+`", "mtlsCertificate": "myBackendCert", "caCertificate": "backendCa"}}}]}`))
	out := must(with("deploy", "--environment", "production", "--environment-type", "production", "--config", gateway, "--output", "json")...)
	var dep struct{ URL string }
	if json.Unmarshal([]byte(out), &dep) != nil || dep.URL == "" {
		t.Fatalf("deploy printed %s", out)
	}
	url := dep.URL + "/api/hello"
	e2etest.Eventually(t, url, 200, "CN=client-1")

	var want sync.Map
	if n := uploads(t, r.grpc(r.certmgrs[0]), r.adminKey, "before", 400, &want); n != 400 {
		t.Fatalf("%d of 400 uploads acknowledged", n)
	}
	want.Store("myBackendCert", l.Key.Public())
	load := e2etest.StartLoad(url, 2)

	refused("--init-master-key --next", "admin", "rotate-master-key")
	if out, err := exec.Command(filepath.Join(r.bin, "certmgr"), "--init-master-key", "--next", "--master-key-file", keyFiles[0]).CombinedOutput(); err != nil {
		t.Fatalf("certmgr --init-master-key --next: %v\n%s", err, out)
	}
	next := keyID(t, keyFiles[0]+".next")
	restartCertmgr(0)
	refused("replica(s) certmgr1 do not", "admin", "rotate-master-key")
	copyKey(t, keyFiles[0]+".next", keyFiles[1]+".next")
	restartCertmgr(1)

	// Uploads go on through both replicas while the rotation runs.
	stopUploads := make(chan struct{})
	uploading := make(chan struct{})
	uploaded := make(chan int)
	go func() {
		n := 0
		for i := 0; ; i++ {
			select {
			case <-stopUploads:
				uploaded <- n
				return
			default:
			}
			acked := uploads(t, r.grpc(r.certmgrs[i%2]), r.adminKey, fmt.Sprintf("during%dn", i), 8, &want)
			if acked != 8 {
				t.Errorf("%d of 8 uploads acknowledged during the rotation", acked)
			}
			n += acked
			if i == 0 {
				close(uploading)
			}
		}
	}()
	<-uploading
	began := time.Now()
	out = must("admin", "rotate-master-key", "--output", "json")
	took := time.Since(began)
	close(stopUploads)
	t.Logf("the rotation of about %d certificates took %v; %d certificates were uploaded while it ran", 402+8, took.Round(time.Millisecond), <-uploaded-8)
	var st struct{ State, KeyID string }
	if json.Unmarshal([]byte(out), &st) != nil || st.State != "idle" {
		t.Fatalf("rotate-master-key printed %s", out)
	}
	// waitRotated waits until replica i has followed the end of a
	// rotation to key id.
	waitRotated := func(i int, id string, within time.Duration) {
		t.Helper()
		status := certmgrv1.NewMasterKeyServiceClient(r.grpc(r.certmgrs[i]))
		for deadline := time.Now().Add(within); ; {
			resp, err := status.GetMasterKeyStatus(r.admin(), &certmgrv1.GetMasterKeyStatusRequest{})
			if err == nil && resp.GetStatus().GetState() == "idle" && resp.GetStatus().GetKeyId() == id {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("certmgr%d after the rotation: %v, %v", i, resp, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range 2 {
		waitRotated(i, next, 20*time.Second)
	}
	load.Finish(t, "master-key rotation across two certmgr replicas on etcd")

	if v := edgeCertVersion(t, r.cluster, "myBackendCert"); v != 1 {
		t.Fatalf("the edge holds myBackendCert at version %d after the master-key rotation, want 1", v)
	}
	for i := range 2 {
		wantAllKeys(t, i, streamedKeys(t, r.grpc(r.certmgrs[i]), r.adminKey), &want)
		if got := keyID(t, keyFiles[i]); got != next {
			t.Fatalf("certmgr%d's master key file holds %s, want %s", i, got, next)
		}
		if _, err := os.Stat(keyFiles[i] + ".next"); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("certmgr%d's next key file is left (%v)", i, err)
		}
		matches, _ := filepath.Glob(keyFiles[i] + ".retired-*")
		if len(matches) != 1 {
			t.Fatalf("certmgr%d keeps retired key files %v, want one", i, matches)
		}
	}

	// A second rotation, with the next key read on SIGHUP, whose walking
	// replica is SIGKILLed: the other
	// takes the walk on once the dead one's lease lapses, and the killed
	// one, started again, moves its key files on.
	load = e2etest.StartLoad(url, 2)
	if out, err := exec.Command(filepath.Join(r.bin, "certmgr"), "--init-master-key", "--next", "--master-key-file", keyFiles[0]).CombinedOutput(); err != nil {
		t.Fatalf("certmgr --init-master-key --next: %v\n%s", err, out)
	}
	third := keyID(t, keyFiles[0]+".next")
	copyKey(t, keyFiles[0]+".next", keyFiles[1]+".next")
	// This time the replicas read it on SIGHUP, without a restart.
	etcd := testetcd.NewClient(t)
	storePrefix := r.store[len(r.store)-1] + "certmgr/"
	for i := range 2 {
		if err := r.procs[fmt.Sprintf("certmgr%d", i)].Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := etcd.Get(context.Background(), storePrefix+"replicas/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		holding := 0
		for _, kv := range resp.Kvs {
			if strings.Contains(string(kv.Value), third) {
				holding++
			}
		}
		if holding == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP, %d of 2 replicas advertise the next key", holding)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must("admin", "rotate-master-key", "--no-wait")
	var walker string
	for deadline := time.Now().Add(20 * time.Second); walker == ""; {
		resp, err := etcd.Get(context.Background(), storePrefix+"meta/masterKeyWalk")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) == 1 {
			walker = string(resp.Kvs[0].Value)
		} else if time.Now().After(deadline) {
			t.Fatal("no replica claimed the rotation's walk")
		}
	}
	killed := 0
	if walker == "certmgr1" {
		killed = 1
	}
	began = time.Now()
	r.kill9(walker)
	waitRotated(1-killed, third, 60*time.Second)
	t.Logf("%s, which walked, was SIGKILLed; certmgr%d finished the rotation %v later", walker, 1-killed, time.Since(began).Round(time.Millisecond))
	startCertmgr(killed)
	waitRotated(killed, third, 20*time.Second)
	load.Finish(t, "master-key rotation whose walking replica was SIGKILLed")
	for i := range 2 {
		wantAllKeys(t, i, streamedKeys(t, r.grpc(r.certmgrs[i]), r.adminKey), &want)
		if got := keyID(t, keyFiles[i]); got != third {
			t.Fatalf("certmgr%d's master key file holds %s, want %s", i, got, third)
		}
		matches, _ := filepath.Glob(keyFiles[i] + ".retired-*")
		if len(matches) != 2 {
			t.Fatalf("certmgr%d keeps retired key files %v, want two", i, matches)
		}
	}

	l2 := clientCA.Issue(t, testpki.Options{CommonName: "client-2"})
	must(with("mtls-certificate", "rotate", "--name", "myBackendCert", "--cert", file("c2.pem", l2.CertPEM), "--key", file("c2.key", l2.KeyPEM))...)
	e2etest.Eventually(t, url, 200, "CN=client-2")
}

func copyKey(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyID returns the id of the key in the first of paths that exists, as
// certmgr reports it.
func keyID(t *testing.T, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			k, err := seal.LoadKeyFile(p)
			if err != nil {
				t.Fatal(err)
			}
			return k.ID()
		}
	}
	t.Fatalf("none of %v exists", paths)
	return ""
}

// edgeCertVersion returns the version of the named certificate the edge
// holds, from its status page.
func edgeCertVersion(t *testing.T, c *cluster, name string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+c.edgeAdminAddr+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+c.edgeKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct {
		Certificates []struct {
			Name    string
			Version int
		}
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	for _, cert := range st.Certificates {
		if cert.Name == name {
			return cert.Version
		}
	}
	t.Fatalf("the edge holds no %s:\n%s", name, body)
	return 0
}
