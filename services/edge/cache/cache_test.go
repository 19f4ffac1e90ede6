package cache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
)

// secretKey stands in for private key bytes: the test looks for it in the
// file to tell whether the file is sealed.
var secretKey = []byte("PRIVATE-KEY-BYTES-THAT-MUST-NOT-BE-ON-DISK")

func material(id, account string) *certmgrv1.CertificateMaterial {
	return &certmgrv1.CertificateMaterial{PrivateKeyPkcs8: secretKey, Certificate: &certmgrv1.Certificate{
		Id: id, Name: id, Account: account, Project: "shop", Kind: "client", State: "active", Version: 1}}
}

func deployment(env, account string) *deploytrackerv1.Deployment {
	return &deploytrackerv1.Deployment{Id: "dep-" + env, Account: account, Project: "shop", Environment: env, EnvironmentType: "production"}
}

func certItem(m *certmgrv1.CertificateMaterial) *certmgrv1.WatchCertificatesResponse {
	return &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotItem{SnapshotItem: m}}
}

func depItem(d *deploytrackerv1.Deployment) *deploytrackerv1.WatchDeploymentsResponse {
	return &deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotItem{SnapshotItem: d}}
}

// testCache opens a cache in dir for account acme with the edge key k1.
func testCache(t *testing.T, dir string, tweak ...func(*Config)) *Cache {
	t.Helper()
	cfg := Config{Dir: filepath.Join(dir, "cache"), KeyFile: filepath.Join(dir, "cache.key"), Account: "acme", EdgeKey: "k1"}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fill taps a snapshot of certificates a, b and deployment prod into c,
// then changes: b deleted, c added, staging deployed; and a heartbeat.
func fill(c *Cache) {
	c.TapCertificates(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Resync{Resync: &certmgrv1.Resync{Epoch: "e1"}}}, 0, "")
	c.TapCertificates(certItem(material("a", "acme")), 0, "")
	c.TapCertificates(certItem(material("b", "acme")), 0, "")
	c.TapCertificates(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_SnapshotComplete{SnapshotComplete: &certmgrv1.SnapshotComplete{Revision: 5, Epoch: "e1"}}}, 5, "e1")
	c.TapCertificates(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: &certmgrv1.CertificateChange{
		Revision: 7, Type: certmgrv1.ChangeType_CHANGE_TYPE_DELETED, CertificateId: "b"}}}, 7, "e1")
	c.TapCertificates(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: &certmgrv1.CertificateChange{
		Revision: 9, Type: certmgrv1.ChangeType_CHANGE_TYPE_CREATED, CertificateId: "c", Material: material("c", "acme")}}}, 9, "e1")
	c.TapCertificates(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Heartbeat{Heartbeat: &certmgrv1.Heartbeat{Revision: 12, Epoch: "e1"}}}, 12, "e1")

	c.TapDeployments(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Resync{Resync: &deploytrackerv1.DeploymentResync{Epoch: "d1"}}}, 0, "")
	c.TapDeployments(depItem(deployment("prod", "acme")), 0, "")
	c.TapDeployments(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_SnapshotComplete{SnapshotComplete: &deploytrackerv1.DeploymentSnapshotComplete{Revision: 3, Epoch: "d1"}}}, 3, "d1")
	c.TapDeployments(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Change{Change: &deploytrackerv1.DeploymentChange{
		Revision: 4, Type: deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED, DeploymentId: "dep-staging", Deployment: deployment("staging", "acme")}}}, 4, "d1")
}

func ids(st *edgev1.CachedState) (certs, deps []string) {
	for _, m := range st.GetCertificates() {
		certs = append(certs, m.GetCertificate().GetId())
	}
	for _, d := range st.GetDeployments() {
		deps = append(deps, d.GetEnvironment())
	}
	return certs, deps
}

// What the taps heard is written sealed and read back by the next
// process as it was, with both streams' positions.
func TestCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := testCache(t, dir)
	if st, err := c.Load(); st != nil || err != nil {
		t.Fatalf("a new cache loaded %v, %v", st, err)
	}
	fill(c)
	c.Flush()
	if s := c.Status(); s.Written.IsZero() || s.Error != "" {
		t.Fatalf("status after a write: %+v", s)
	}
	data, err := os.ReadFile(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, secretKey) || bytes.Contains(data, []byte("acme")) || !bytes.HasPrefix(data, header) {
		t.Fatal("the cache file holds plaintext")
	}
	for _, p := range []string{c.Path(), filepath.Join(dir, "cache.key")} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v (want mode 0600)", p, info, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "cache", tempPattern)); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	again := testCache(t, dir)
	st, err := again.Load()
	if err != nil || st == nil {
		t.Fatalf("load: %v, %v", st, err)
	}
	certs, deps := ids(st)
	if strings.Join(certs, ",") != "a,c" || strings.Join(deps, ",") != "prod,staging" {
		t.Fatalf("certificates %v, deployments %v; want a,c and prod,staging", certs, deps)
	}
	if cs, ds := st.GetCertificatesStream(), st.GetDeploymentsStream(); cs.GetRevision() != 12 || cs.GetEpoch() != "e1" || cs.GetLastEventUnixMs() == 0 ||
		ds.GetRevision() != 4 || ds.GetEpoch() != "d1" {
		t.Fatalf("positions: %v %v", cs, ds)
	}
	if !bytes.Equal(st.GetCertificates()[0].GetPrivateKeyPkcs8(), secretKey) {
		t.Fatal("the private key did not come back")
	}
	if s := again.Status(); s.Restored.UnixMilli() != st.GetWrittenUnixMs() {
		t.Fatalf("status after a load: %+v", s)
	}
	// The loaded state is what the cache holds: a write with nothing new
	// heard keeps it.
	again.changed(false)
	again.Flush()
	third, err := testCache(t, dir).Load()
	if c2, d2 := ids(third); err != nil || strings.Join(c2, ",") != "a,c" || strings.Join(d2, ",") != "prod,staging" {
		t.Fatalf("after a rewrite: %v %v %v", c2, d2, err)
	}
}

// Every cache file that is not this edge's own sound cache is refused
// with ErrRefused and a reason; the file is left as it is.
func TestCacheRefusesWhatItCannotTrust(t *testing.T) {
	dir := t.TempDir()
	c := testCache(t, dir)
	fill(c)
	c.Flush()
	good, err := os.ReadFile(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	own, err := loadKeyFile(filepath.Join(dir, "cache.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSealer(bytes.Repeat([]byte{7}, keySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed := func(s *sealer, st *edgev1.CachedState) []byte {
		b, err := encode(s, st)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := func(edit func(*edgev1.CachedState)) []byte {
		st, err := decode(own, good)
		if err != nil {
			t.Fatal(err)
		}
		edit(st)
		return sealed(own, st)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-20] ^= 1
	foreign, _ := own.Seal([]byte("a certmgr private key"), []byte("cert-1/1"))
	future := bytes.Clone(good)
	future[len(header)-1] = 2
	for _, tc := range []struct {
		name, reason string
		data         []byte
		tweak        func(*Config)
	}{
		{"an empty file", "not an edge cache file", nil, nil},
		{"garbage", "not an edge cache file", []byte("{\"certificates\": []}"), nil},
		{"the header alone", "does not open", header, nil},
		{"the header without its version", "not an edge cache file", header[:len(header)-1], nil},
		{"truncated in the seal", "does not open", good[:len(header)+10], nil},
		{"truncated by one byte", "does not open", good[:len(good)-1], nil},
		{"a flipped bit", "does not open", flipped, nil},
		{"sealed with another key", "sealed with another key", sealed(other, &edgev1.CachedState{}), nil},
		{"a sealed value of something else", "does not open", append(bytes.Clone(header), foreign...), nil},
		{"a later format", "format this edge does not know", future, nil},
		{"too large", "larger than the bound", good, func(cfg *Config) { cfg.MaxBytes = int64(len(good) - 1) }},
		{"another scope", "another scope", good, func(cfg *Config) { cfg.Project = "shop" }},
		{"another edge key", "another edge key", good, func(cfg *Config) { cfg.EdgeKey = "k2" }},
		{"no write time", "no time", valid(func(st *edgev1.CachedState) { st.WrittenUnixMs = 0 }), nil},
		{"no stream position", "position", valid(func(st *edgev1.CachedState) { st.DeploymentsStream = nil }), nil},
		{"no edge key", "edge key", valid(func(st *edgev1.CachedState) { st.EdgeKeySha256 = nil }), nil},
		{"a certificate without id", "no id", valid(func(st *edgev1.CachedState) { st.Certificates[0].Certificate.Id = "" }), nil},
		{"a certificate twice", "twice", valid(func(st *edgev1.CachedState) { st.Certificates[1] = st.Certificates[0] }), nil},
		{"a certificate of another account", "another account", valid(func(st *edgev1.CachedState) { st.Certificates[0].Certificate.Account = "globex" }), nil},
		{"a deployment without environment", "lacks", valid(func(st *edgev1.CachedState) { st.Deployments[0].Environment = "" }), nil},
		{"two deployments at one place", "twice", valid(func(st *edgev1.CachedState) { st.Deployments[1].Environment = "prod" }), nil},
		{"a deployment of another account", "another account", valid(func(st *edgev1.CachedState) { st.Deployments[0].Account = "globex" }), nil},
		{"contents that do not decode", "do not decode", append(bytes.Clone(header), mustSeal(t, own, []byte{0xff, 0xff, 0xff})...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.MkdirAll(filepath.Join(d, "cache"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, "cache.key"), mustRead(t, filepath.Join(dir, "cache.key")), 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(d, "cache", FileName)
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			var tweaks []func(*Config)
			if tc.tweak != nil {
				tweaks = append(tweaks, tc.tweak)
			}
			c := testCache(t, d, tweaks...)
			st, err := c.Load()
			if st != nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("Load: %v, %v (want ErrRefused saying %q)", st, err, tc.reason)
			}
			if s := c.Status(); s.Error != err.Error() || !s.Restored.IsZero() {
				t.Fatalf("status: %+v", s)
			}
			if after := mustRead(t, path); !bytes.Equal(after, tc.data) {
				t.Fatal("a refused cache file was changed")
			}
			if strings.Contains(err.Error(), string(secretKey)) {
				t.Fatal("the error holds key material")
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustSeal(t *testing.T, s *sealer, plain []byte) []byte {
	t.Helper()
	b, err := s.Seal(plain, header)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The key file is created, 0600, only for a new cache; a missing key
// beside an existing cache, or a key others can read, stops the edge with
// what to do.
func TestCacheKeyFile(t *testing.T) {
	t.Run("missing beside a cache", func(t *testing.T) {
		dir := t.TempDir()
		c := testCache(t, dir)
		fill(c)
		c.Flush()
		os.Remove(filepath.Join(dir, "cache.key"))
		_, err := Open(Config{Dir: filepath.Join(dir, "cache"), KeyFile: filepath.Join(dir, "cache.key"), EdgeKey: "k1"})
		if err == nil || !strings.Contains(err.Error(), "restore the key file") {
			t.Fatalf("Open: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "cache.key")); err == nil {
			t.Fatal("a key was created over an existing cache")
		}
	})
	t.Run("readable by others", func(t *testing.T) {
		dir := t.TempDir()
		testCache(t, dir)
		key := filepath.Join(dir, "cache.key")
		if err := os.Chmod(key, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := Open(Config{Dir: filepath.Join(dir, "cache"), KeyFile: key, EdgeKey: "k1"})
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+key) {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("kept across starts", func(t *testing.T) {
		dir := t.TempDir()
		testCache(t, dir)
		first := mustRead(t, filepath.Join(dir, "cache.key"))
		testCache(t, dir)
		if !bytes.Equal(first, mustRead(t, filepath.Join(dir, "cache.key"))) {
			t.Fatal("the key file changed")
		}
	})
	t.Run("required", func(t *testing.T) {
		if _, err := Open(Config{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "--cache-key-file") {
			t.Fatalf("Open: %v", err)
		}
	})
}

// A state larger than the bound is not written, and the older file goes,
// so a restart does not serve a state far behind.
func TestCacheTooLargeIsNotWritten(t *testing.T) {
	dir := t.TempDir()
	c := testCache(t, dir)
	fill(c)
	c.Flush()
	small := testCache(t, dir, func(cfg *Config) { cfg.MaxBytes = 64 })
	fill(small)
	small.Flush()
	if s := small.Status(); !strings.Contains(s.Error, "more than the bound") || !s.Written.IsZero() {
		t.Fatalf("status: %+v", s)
	}
	// Run waits before trying again, rather than encoding and logging the
	// same failure every tick.
	if !small.retryAt.After(time.Now()) || !small.dirty {
		t.Fatalf("after a failed write: retry at %v, dirty %v", small.retryAt, small.dirty)
	}
	if _, err := os.Stat(c.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the older cache is still there: %v", err)
	}
}

// Open removes temporary files a crash left behind.
func TestCacheOpenRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	c := testCache(t, dir)
	left := filepath.Join(dir, "cache", ".edge-state-123.tmp")
	if err := os.WriteFile(left, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	testCache(t, dir)
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover: %v", err)
	}
	_ = c
}

// Damaged material does not replace a sound version in the cache, as in
// the edge; a change with nothing to apply still moves the position.
func TestCacheKeepsSoundMaterial(t *testing.T) {
	c := testCache(t, t.TempDir())
	fill(c)
	bad := material("a", "acme")
	bad.Certificate.Damaged = "cannot unseal"
	c.TapCertificates(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: &certmgrv1.CertificateChange{
		Revision: 20, Type: certmgrv1.ChangeType_CHANGE_TYPE_UPDATED, CertificateId: "a", Material: bad}}}, 20, "e1")
	st := c.m.state()
	if st.GetCertificates()[0].GetCertificate().GetDamaged() != "" || st.GetCertificatesStream().GetRevision() != 20 {
		t.Fatalf("state: %v", st)
	}
	if !proto.Equal(st.GetCertificates()[0], material("a", "acme")) {
		t.Fatal("the sound version changed")
	}
}
