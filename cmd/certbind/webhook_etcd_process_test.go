package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// TestWebhooksAcrossEtcdProcesses runs two certmgr processes on one etcd
// prefix and a real HTTPS receiver on loopback: certificates created on
// either replica are each delivered once; the replica that leads the
// dispatch is then killed with SIGKILL, and the other, elected once the
// dead leader's lease runs out, delivers the events of the certificates
// created after, each once.
func TestWebhooksAcrossEtcdProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	var mu sync.Mutex
	got := map[string]int{}
	rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.Header.Get(webhook.HeaderID)]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	counts := func() (distinct, total int) {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range got {
			distinct, total = distinct+1, total+n
		}
		return distinct, total
	}
	// The certmgr processes trust the receiver through the system roots
	// Go reads from SSL_CERT_FILE.
	roots := filepath.Join(t.TempDir(), "receiver.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSL_CERT_FILE", roots)

	c := newCluster(t)
	c.etcd = []string{"--store", "etcd", "--etcd-endpoints", testetcd.Endpoint(t), "--etcd-prefix", testetcd.Prefix(t)}
	allow := []string{"--webhook-allow", "127.0.0.0/8"}
	c.startWith("certmgr", allow...)
	second, secondAdmin := freeAddr(t), freeAddr(t)
	c.launch("certmgr2", "certmgr", second, append(append([]string{"--listen", second, "--admin-listen", secondAdmin,
		"--master-key-file", filepath.Join(c.dir, "master.key"), "--deploytracker-addr", c.trackerAddr}, c.storeArgs("certmgr")...), allow...))
	replicas := map[string]string{"certmgr": c.certmgrAddr, "certmgr2": second}

	hooks := certmgrv1.NewWebhookServiceClient(c.grpc(c.certmgrAddr))
	if _, err := hooks.CreateWebhook(c.admin(), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "created", Url: rcv.URL + "/hook",
		Events: []string{webhook.EventCreated}}); err != nil {
		t.Fatal(err)
	}
	ca := testpki.NewCA(t, "Client CA")
	create := func(on, name string) {
		t.Helper()
		leaf := ca.Issue(t, testpki.Options{CommonName: name})
		_, err := certmgrv1.NewCertificateServiceClient(c.grpc(replicas[on])).CreateCertificate(c.admin(), &certmgrv1.CreateCertificateRequest{
			Account: "acme", Project: "shop", Name: name, EnvironmentTypes: []string{"production"},
			CertificatePem: string(leaf.CertPEM), PrivateKeyPem: string(leaf.KeyPEM)})
		if err != nil {
			t.Fatalf("create %s on %s: %v", name, on, err)
		}
	}
	wait := func(want int) {
		t.Helper()
		// A bound for a stuck test (the lease of a killed leader is 10 s),
		// not a measure of speed.
		deadline := time.Now().Add(90 * time.Second)
		for {
			if d, _ := counts(); d >= want {
				return
			}
			if time.Now().After(deadline) {
				d, n := counts()
				t.Fatalf("the receiver got %d deliveries (%d distinct), want %d", n, d, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	const n = 5
	for i := range n {
		create([]string{"certmgr", "certmgr2"}[i%2], fmt.Sprintf("before%d", i))
	}
	wait(n)

	var leader string
	for name := range replicas {
		log, err := os.ReadFile(filepath.Join(c.dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), "this replica leads the webhook dispatch") {
			if leader != "" {
				t.Fatalf("both %s and %s say they lead", leader, name)
			}
			leader = name
		}
	}
	if leader == "" {
		t.Fatal("no replica says it leads the webhook dispatch")
	}
	c.kill9(leader)
	survivor := "certmgr"
	if leader == "certmgr" {
		survivor = "certmgr2"
	}
	for i := range n {
		create(survivor, fmt.Sprintf("after%d", i))
	}
	wait(2 * n)
	if d, total := counts(); d != 2*n || total != 2*n {
		t.Fatalf("the receiver got %d deliveries of %d distinct, want %d each once", total, d, 2*n)
	}
	t.Logf("killed the leader %s; %s delivered the rest", leader, survivor)
}
