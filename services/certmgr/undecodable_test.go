package certmgr_test

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// garbleRecord replaces the stored JSON of certificate id in account/shop,
// in the bbolt file of the stopped server s, with bytes that do not decode.
func garbleRecord(t *testing.T, s *server, account, id string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(s.cfg.DataDir, "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("certificates"))
		key := []byte(account + "\x00shop\x00" + id)
		v := b.Get(key)
		if v == nil {
			t.Fatalf("no record %q", key)
		}
		// Cut the record in half: what a torn or damaged page leaves.
		return b.Put(key, append([]byte(nil), v[:len(v)/2]...))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUndecodableRecordHarmsOnlyItself: a certificate record whose JSON no
// longer decodes does not fail the snapshot: every other certificate
// streams with its key, the damaged one is sent by id and name without
// material, describe and list say it is damaged, and writes to it are
// refused with an error that says so.
func TestUndecodableRecordHarmsOnlyItself(t *testing.T) {
	s := startServer(t)
	ctx := as(adminKey)
	create(t, s, "good")
	broken := create(t, s, "broken")
	create(t, s, "zeta")

	s.stop()
	garbleRecord(t, s, "acme", broken.GetId())
	s.start()

	items := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{}).snapshotItems()
	if len(items) != 3 {
		t.Fatalf("snapshot has %d items, want 3: %v", len(items), items)
	}
	wantUsable(t, "good", items["good"])
	wantUsable(t, "zeta", items["zeta"])
	wantWithoutMaterial(t, "snapshot", items["broken"], broken.GetId())
	if d := items["broken"].GetCertificate().GetDamaged(); !strings.Contains(d, "does not decode") {
		t.Fatalf("streamed damaged = %q, want it to say the record does not decode", d)
	}

	got, err := s.certs().GetCertificate(ctx, &certmgrv1.GetCertificateRequest{Account: "acme", Project: "shop", Id: broken.GetId()})
	if err != nil {
		t.Fatalf("describe the damaged certificate: %v", err)
	}
	if got.GetCertificate().GetName() != "broken" || !strings.Contains(got.GetCertificate().GetDamaged(), "does not decode") {
		t.Fatalf("describe = %v, want the name and a damaged reason", got.GetCertificate())
	}
	list, err := s.certs().ListCertificates(ctx, &certmgrv1.ListCertificatesRequest{Account: "acme", Project: "shop"})
	if err != nil {
		t.Fatalf("list with a damaged certificate: %v", err)
	}
	var names []string
	for _, c := range list.GetCertificates() {
		names = append(names, c.GetName())
		if (c.GetDamaged() != "") != (c.GetId() == broken.GetId()) {
			t.Fatalf("list: %s damaged = %q", c.GetName(), c.GetDamaged())
		}
	}
	if strings.Join(names, ",") != "broken,good,zeta" {
		t.Fatalf("list names %v", names)
	}

	_, err = s.certs().DisableCertificate(ctx, &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: broken.GetId()})
	if err == nil || !strings.Contains(err.Error(), "does not decode") {
		t.Fatalf("disable the damaged certificate: %v, want a refusal that says it does not decode", err)
	}
	if !strings.Contains(s.logs.String(), broken.GetId()) {
		t.Fatalf("the log does not name the damaged certificate:\n%s", s.logs.String())
	}

	// It can be deleted (nothing references it), and its name is free again.
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	w.snapshotItems()
	if _, err := s.certs().DeleteCertificate(ctx, &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: broken.GetId()}); err != nil {
		t.Fatalf("delete the damaged certificate: %v", err)
	}
	if ch := w.change(); ch.GetCertificateId() != broken.GetId() || ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_DELETED {
		t.Fatalf("change %v, want the damaged certificate deleted", ch)
	}
	create(t, s, "broken")
	if items := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{}).snapshotItems(); len(items) != 3 {
		t.Fatalf("after the delete and a new upload the snapshot has %d items, want 3", len(items))
	} else {
		wantUsable(t, "the new broken", items["broken"])
	}
}

// TestUndecodableChangeResyncsResumers: a changelog entry whose JSON no
// longer decodes does not stop every subscriber that resumes across it
// (each would fail and retry for ever): it is told to resync and gets a
// snapshot, in which every certificate streams.
func TestUndecodableChangeResyncsResumers(t *testing.T) {
	s := startServer(t)
	create(t, s, "a1")
	create(t, s, "a2")
	create(t, s, "a3")
	s.stop()
	db, err := bolt.Open(filepath.Join(s.cfg.DataDir, "certmgr.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("changelog"))
		key := binary.BigEndian.AppendUint64(nil, 2)
		v := b.Get(key)
		if v == nil {
			t.Fatal("no changelog entry 2")
		}
		return b.Put(key, append([]byte(nil), v[:len(v)/2]...))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s.start()

	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: 1, Epoch: epoch(t, s)})
	ev := w.next()
	if r := ev.GetResync(); r == nil || !strings.Contains(r.GetReason(), "does not decode") {
		t.Fatalf("resume across a damaged change: %v, want a resync that says a change does not decode", ev)
	}
	var names []string
	for {
		ev := w.next()
		if c := ev.GetSnapshotComplete(); c != nil {
			if strings.Join(names, ",") != "a1,a2,a3" || c.GetRevision() != 3 {
				t.Fatalf("snapshot after the resync: %v at %d, want a1,a2,a3 at 3", names, c.GetRevision())
			}
			break
		}
		wantUsable(t, "snapshot", ev.GetSnapshotItem())
		names = append(names, ev.GetSnapshotItem().GetCertificate().GetName())
	}
	// Resuming after the damaged entry is as before.
	create(t, s, "a4")
	w = watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: 3, Epoch: epoch(t, s)})
	if ch := w.change(); ch.GetRevision() != 4 {
		t.Fatalf("resume from 3: change at %d, want 4", ch.GetRevision())
	}
}
