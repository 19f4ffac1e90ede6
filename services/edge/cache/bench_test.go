package cache

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// benchCache fills a cache with n certificates (a 2 KiB chain and a 1.2
// KiB key each, about what an RSA-2048 pair takes) and n deployments of
// three routes.
func benchCache(b *testing.B, n int) *Cache {
	dir := b.TempDir()
	c, err := Open(Config{Dir: filepath.Join(dir, "cache"), KeyFile: filepath.Join(dir, "cache.key"), Account: "acme", EdgeKey: "k"})
	if err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 1200)
	rand.Read(key)
	chain := base64.StdEncoding.EncodeToString(key[:1536*3/4+0])
	chain += base64.StdEncoding.EncodeToString(key)[:2048-len(chain)]
	for i := range n {
		id := fmt.Sprintf("crt_%06d", i)
		c.TapCertificates(&certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: &certmgrv1.CertificateChange{
			Revision: uint64(i + 1), Type: certmgrv1.ChangeType_CHANGE_TYPE_CREATED, CertificateId: id,
			Material: &certmgrv1.CertificateMaterial{PrivateKeyPkcs8: key, Certificate: &certmgrv1.Certificate{Id: id, Name: id, Account: "acme",
				Project: "shop", Kind: "client", State: "active", Version: 1, CertificatePem: chain}}}}}, uint64(i+1), "e1")
		d := &deploytrackerv1.Deployment{Id: fmt.Sprintf("dep_%06d", i), Account: "acme", Project: "shop", Environment: fmt.Sprintf("env%d", i), EnvironmentType: "production"}
		for r := range 3 {
			d.Routes = append(d.Routes, &deploytrackerv1.Route{Path: fmt.Sprintf("/api%d/*", r), Handler: "UrlForwardHandler", BaseUrl: "https://backend.internal:9443",
				MtlsCertificateId: id, MtlsCertificateName: id})
		}
		c.TapDeployments(&deploytrackerv1.WatchDeploymentsResponse{Event: &deploytrackerv1.WatchDeploymentsResponse_Change{Change: &deploytrackerv1.DeploymentChange{
			Revision: uint64(i + 1), Type: deploytrackerv1.DeploymentChangeType_DEPLOYMENT_CHANGE_TYPE_DEPLOYED, DeploymentId: d.Id, Deployment: d}}}, uint64(i+1), "d1")
	}
	return c
}

// BenchmarkFlush is one write of the whole cache: encode, seal, write,
// fsync, rename, fsync the directory.
func BenchmarkFlush(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := benchCache(b, n)
			c.Flush()
			for b.Loop() {
				c.changed(true)
				c.Flush()
			}
			if s := c.Status(); s.Error != "" {
				b.Fatal(s.Error)
			}
			b.ReportMetric(float64(fileSize(b, c.Path())), "file-bytes")
		})
	}
}

// BenchmarkLoad is one read of the cache at start: read, open, decode,
// check.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := benchCache(b, n)
			c.Flush()
			for b.Loop() {
				if st, err := c.Load(); err != nil || len(st.GetCertificates()) != n {
					b.Fatal(err, len(st.GetCertificates()), c.Status().Error)
				}
			}
		})
	}
}

// BenchmarkTap is what a follower pays per change for the cache.
func BenchmarkTap(b *testing.B) {
	c := benchCache(b, 1000)
	m := &certmgrv1.WatchCertificatesResponse{Event: &certmgrv1.WatchCertificatesResponse_Change{Change: &certmgrv1.CertificateChange{
		Revision: 5000, Type: certmgrv1.ChangeType_CHANGE_TYPE_UPDATED, CertificateId: "crt_000001",
		Material: &certmgrv1.CertificateMaterial{Certificate: &certmgrv1.Certificate{Id: "crt_000001", Account: "acme"}}}}}
	for b.Loop() {
		c.TapCertificates(m, 5000, "e1")
	}
}

func fileSize(b *testing.B, path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}
