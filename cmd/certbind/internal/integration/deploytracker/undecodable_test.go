package deploytracker_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker"
)

// damagedMetric scrapes the deploytracker's metrics and returns
// certbind_deployments_damaged, failing when it is missing.
func damagedMetric(t *testing.T, dt *deploytracker.Service) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(dt.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "certbind_deployments_damaged" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("the deploytracker has no certbind_deployments_damaged metric")
	return 0
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// garbleDeployment cuts the stored JSON of the deployment of environment env
// in acme/shop in half, in the stopped deploytracker's bbolt file.
func garbleDeployment(t *testing.T, dir, env string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, "deploytracker.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("deployments"))
		key := []byte("acme\x00shop\x00" + env)
		v := b.Get(key)
		if v == nil {
			t.Fatalf("no record %q", key)
		}
		return b.Put(key, append([]byte(nil), v[:len(v)/2]...))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUndecodableDeploymentHarmsOnlyItself: a deployment record whose JSON
// no longer decodes is left out of the stream, logged once by id, counted
// by a metric, and listed and described as damaged; every other deployment streams; a
// redeploy of its environment replaces it under the same id.
func TestUndecodableDeploymentHarmsOnlyItself(t *testing.T) {
	p := startPair(t)
	logs := &lockedBuffer{}
	p.dtCfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	p.createCert(t, certSpec{"acme", "shop", "myBackendCert", []string{"development", "production"}, false})
	spare := p.createCert(t, certSpec{"acme", "shop", "spareCert", []string{"production"}, false})
	vars := map[string]string{"CERT": "myBackendCert"}
	prod := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "production", EnvironmentType: "production", Config: config(t, ""), Variables: vars})
	dev := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "dev", EnvironmentType: "development", Config: config(t, ""), Variables: vars})
	qa := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "qa", EnvironmentType: "development", Config: config(t, ""), Variables: vars})

	if n := damagedMetric(t, p.dt); n != 0 {
		t.Fatalf("certbind_deployments_damaged is %v before any damage", n)
	}
	p.stopDeploytracker(t)
	garbleDeployment(t, p.dtCfg.DataDir, "dev")
	p.startDeploytracker(t)
	if n := damagedMetric(t, p.dt); n != 1 {
		t.Fatalf("certbind_deployments_damaged is %v with one damaged record, want 1", n)
	}

	for range 2 {
		_, items, _ := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{}).snapshot(t)
		var ids []string
		for _, d := range items {
			ids = append(ids, d.GetId())
		}
		if len(items) != 2 || !strings.Contains(strings.Join(ids, ","), prod.GetId()) || !strings.Contains(strings.Join(ids, ","), qa.GetId()) {
			t.Fatalf("snapshot ids %v, want production %s and qa %s", ids, prod.GetId(), qa.GetId())
		}
	}
	if n := strings.Count(logs.String(), `"deploymentId":"`+dev.GetId()+`"`); n != 1 {
		t.Fatalf("the damaged deployment is logged %d times, want once:\n%s", n, logs.String())
	}

	list, err := p.deploys.ListDeployments(callCtx(t), &deploytrackerv1.ListDeploymentsRequest{Account: "acme", Project: "shop"})
	if err != nil {
		t.Fatalf("list with a damaged deployment: %v", err)
	}
	if len(list.GetDeployments()) != 3 {
		t.Fatalf("list has %d deployments, want 3", len(list.GetDeployments()))
	}
	got, err := p.deploys.GetDeployment(callCtx(t), &deploytrackerv1.GetDeploymentRequest{Account: "acme", Project: "shop", Id: dev.GetId()})
	if err != nil {
		t.Fatalf("describe the damaged deployment: %v", err)
	}
	if got.GetDeployment().GetEnvironment() != "dev" || !strings.Contains(got.GetDeployment().GetDamaged(), "does not decode") {
		t.Fatalf("describe = %v, want environment dev and a damaged reason", got.GetDeployment())
	}

	// Whether it uses a certificate is unknown, so deletes in its project
	// are refused, naming it.
	del := &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: spare}
	if _, err := p.certs.DeleteCertificate(callCtx(t), del); err == nil || !strings.Contains(err.Error(), `environment "dev" (`+dev.GetId()+`) cannot be read`) {
		t.Fatalf("delete beside a damaged deployment: %v, want a refusal naming it", err)
	}

	// A redeploy replaces it under the same id, and it streams again.
	again := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "dev", EnvironmentType: "development", Config: config(t, ""), Variables: vars})
	if again.GetId() != dev.GetId() || again.GetDamaged() != "" {
		t.Fatalf("redeploy = %v, want id %s undamaged", again, dev.GetId())
	}
	if n := damagedMetric(t, p.dt); n != 0 {
		t.Fatalf("certbind_deployments_damaged is %v after the repair, want 0", n)
	}
	_, items, _ := p.watch(t, adminKey, &deploytrackerv1.WatchDeploymentsRequest{}).snapshot(t)
	if len(items) != 3 {
		t.Fatalf("after the redeploy the snapshot has %d deployments, want 3", len(items))
	}
	if _, err := p.certs.DeleteCertificate(callCtx(t), del); err != nil {
		t.Fatalf("delete after the repair: %v", err)
	}
}
