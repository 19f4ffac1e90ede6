package certmgr_test

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// damageSealedKey flips one byte in the middle of the sealed private key of
// certificate id in account/shop, in the bbolt file of the stopped server s,
// and returns the sealed key as it was (base64, as stored).
func damageSealedKey(t *testing.T, s *server, account, id string) string {
	t.Helper()
	db, err := bolt.Open(filepath.Join(s.cfg.DataDir, "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var before string
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("certificates"))
		key := []byte(account + "\x00shop\x00" + id)
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(b.Get(key), &rec); err != nil {
			return err
		}
		if err := json.Unmarshal(rec["sealedKey"], &before); err != nil {
			return err
		}
		sealed, err := base64.StdEncoding.DecodeString(before)
		if err != nil {
			return err
		}
		sealed[len(sealed)/2] ^= 0x01
		rec["sealedKey"], _ = json.Marshal(sealed)
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	return before
}

// snapshotItems reads a whole snapshot and returns its items by name.
func (w *watcher) snapshotItems() map[string]*certmgrv1.CertificateMaterial {
	w.t.Helper()
	if ev := w.next(); ev.GetResync() == nil {
		w.t.Fatalf("want resync first, got %v", ev)
	}
	items := map[string]*certmgrv1.CertificateMaterial{}
	for {
		ev := w.next()
		if ev.GetSnapshotComplete() != nil {
			return items
		}
		item := ev.GetSnapshotItem()
		if item == nil {
			w.t.Fatalf("want snapshot item, got %v", ev)
		}
		items[item.GetCertificate().GetName()] = item
	}
}

// wantUsable fails unless mat carries a private key.
func wantUsable(t *testing.T, what string, mat *certmgrv1.CertificateMaterial) {
	t.Helper()
	if mat == nil {
		t.Fatalf("%s: missing", what)
	}
	if _, err := x509.ParsePKCS8PrivateKey(mat.GetPrivateKeyPkcs8()); err != nil {
		t.Fatalf("%s: no usable private key: %v", what, err)
	}
}

// wantWithoutMaterial fails unless mat names the certificate id but carries
// neither a key nor a chain, so an edge treats it as unavailable.
func wantWithoutMaterial(t *testing.T, what string, mat *certmgrv1.CertificateMaterial, id string) {
	t.Helper()
	if mat.GetCertificate().GetId() != id {
		t.Fatalf("%s: got certificate %q, want the damaged %s", what, mat.GetCertificate().GetId(), id)
	}
	if len(mat.GetPrivateKeyPkcs8()) != 0 || mat.GetCertificate().GetCertificatePem() != "" {
		t.Fatalf("%s: the damaged certificate was sent with material", what)
	}
}

// TestDamagedKeyHarmsOnlyItself: a certificate whose sealed key no longer
// unseals is streamed without material, logged once, and every other
// certificate, in every account, streams as before; a metric counts it;
// rotating it repairs it.
func TestDamagedKeyHarmsOnlyItself(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	good := create(t, s, "good")
	broken := create(t, s, "broken")
	req, _ := clientUpload(t, "other")
	req.Account = "globex"
	other, err := s.certs().CreateCertificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	_ = other

	s.stop()
	sealed := damageSealedKey(t, s, "acme", broken.GetId())
	s.start()

	all := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	items := all.snapshotItems()
	if len(items) != 3 {
		t.Fatalf("snapshot has %d items, want 3: %v", len(items), items)
	}
	wantUsable(t, "good", items["good"])
	wantUsable(t, "other (globex)", items["other"])
	wantWithoutMaterial(t, "snapshot", items["broken"], broken.GetId())

	acme := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{Account: "acme"})
	items = acme.snapshotItems()
	wantUsable(t, "good, account scope", items["good"])
	wantWithoutMaterial(t, "snapshot, account scope", items["broken"], broken.GetId())

	// A live change to another certificate arrives with its material.
	if _, err := s.certs().DisableCertificate(ctx, &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: good.GetId()}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*watcher{all, acme} {
		ch := w.change()
		if ch.GetCertificateId() != good.GetId() || ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_DISABLED {
			t.Fatalf("change %v, want good disabled", ch)
		}
		wantUsable(t, "good after disable", ch.GetMaterial())
	}
	// A change to the damaged one arrives too, still without material.
	if _, err := s.certs().DisableCertificate(ctx, &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: broken.GetId()}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*watcher{all, acme} {
		ch := w.change()
		if ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_DISABLED {
			t.Fatalf("change %v, want broken disabled", ch)
		}
		wantWithoutMaterial(t, "change", ch.GetMaterial(), broken.GetId())
	}

	if n := damagedMaterialMetric(t, s); n != 1 {
		t.Fatalf("certbind_certmgr_certificates_damaged_material is %v, want 1", n)
	}

	// The log names it once, with its account, and never the key.
	logs := s.logs.String()
	var damaged []string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "damaged") && strings.Contains(line, `"level":"ERROR"`) {
			damaged = append(damaged, line)
		}
	}
	if len(damaged) != 1 {
		t.Fatalf("%d damage lines, want one:\n%s", len(damaged), logs)
	}
	for _, want := range []string{`"certificateId":"` + broken.GetId() + `"`, `"account":"acme"`, `"name":"broken"`} {
		if !strings.Contains(damaged[0], want) {
			t.Fatalf("the damage line does not hold %s:\n%s", want, damaged[0])
		}
	}
	if strings.Contains(logs, sealed[:16]) {
		t.Fatalf("the log contains the sealed key:\n%s", logs)
	}

	// Rotating it in place, with new material, repairs it.
	leaf := testpki.NewCA(t, "Repair Root").Issue(t, testpki.Options{CommonName: "broken.client"})
	if _, err := s.certs().RotateCertificate(ctx, rotation(broken.GetId(), leaf)); err != nil {
		t.Fatalf("rotate the damaged certificate: %v", err)
	}
	for _, w := range []*watcher{all, acme} {
		ch := w.change()
		if ch.GetCertificateId() != broken.GetId() || ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_ROTATED {
			t.Fatalf("change %v, want broken rotated", ch)
		}
		wantKeyOf(t, ch.GetMaterial(), leaf)
	}
	items = watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{}).snapshotItems()
	wantKeyOf(t, items["broken"], leaf)
	wantUsable(t, "good, new subscriber", items["good"])
	wantUsable(t, "other, new subscriber", items["other"])
	if n := damagedMaterialMetric(t, s); n != 0 {
		t.Fatalf("certbind_certmgr_certificates_damaged_material is %v after the repair, want 0", n)
	}
}

// damagedMaterialMetric scrapes certmgr's metrics and returns
// certbind_certmgr_certificates_damaged_material.
func damagedMaterialMetric(t *testing.T, s *server) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.svc.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "certbind_certmgr_certificates_damaged_material" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("certmgr has no certbind_certmgr_certificates_damaged_material metric")
	return 0
}
