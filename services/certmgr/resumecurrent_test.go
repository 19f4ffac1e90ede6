package certmgr_test

import (
	"testing"

	"github.com/certbind/certbind/internal/testpki"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// TestResumeSendsCertificatesAsTheyAreNow: the changelog keeps no
// material, so a subscriber catching up is sent each certificate as it is
// now: a change of one that has moved on since carries the newer material
// (the later change follows), and a change of one deleted since is left
// out (its delete follows).
func TestResumeSendsCertificatesAsTheyAreNow(t *testing.T) {
	s := startServer(t)
	create(t, s, "base") // a snapshot at revision 0 could not be resumed from
	first := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	if ev := first.next(); ev.GetResync() == nil {
		t.Fatalf("want resync first, got %v", ev)
	}
	var pos *certmgrv1.SnapshotComplete
	for pos == nil {
		pos = first.next().GetSnapshotComplete()
	}
	first.cancel()

	moving := create(t, s, "moving")
	leaf := testpki.NewCA(t, "Rotation Root").Issue(t, testpki.Options{CommonName: "moving.client"})
	rotated, err := s.certs().RotateCertificate(as(adminKey), rotation(moving.GetId(), leaf))
	if err != nil {
		t.Fatal(err)
	}
	gone := create(t, s, "gone")
	if _, err := s.certs().DeleteCertificate(as(adminKey), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: gone.GetId()}); err != nil {
		t.Fatal(err)
	}
	head := s.revision()

	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: pos.GetRevision(), Epoch: pos.GetEpoch()})
	created, rot, del := w.change(), w.change(), w.change()
	if created.GetRevision() != moving.GetRevision() || created.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_CREATED ||
		created.GetMaterial().GetCertificate().GetVersion() != 2 || created.GetMaterial().GetCertificate().GetSerialNumber() != rotated.GetCertificate().GetSerialNumber() ||
		len(created.GetMaterial().GetPrivateKeyPkcs8()) == 0 {
		t.Errorf("create = %v, want it at %d with the rotated material (version 2)", created, moving.GetRevision())
	}
	if rot.GetRevision() != rotated.GetCertificate().GetRevision() || rot.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_ROTATED || rot.GetMaterial().GetCertificate().GetVersion() != 2 {
		t.Errorf("rotation = %v, want it at %d with version 2", rot, rotated.GetCertificate().GetRevision())
	}
	if del.GetRevision() != head || del.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_DELETED || del.GetCertificateId() != gone.GetId() || del.GetMaterial() != nil {
		t.Errorf("after the rotation = %v, want the delete of %s at %d (its create left out: it is gone)", del, gone.GetId(), head)
	}
}
