package certmgr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/seal"
)

var errCrash = errors.New("simulated crash")

// run runs the service's background work (which carries out rotations)
// until the test or the returned stop ends it.
func (s *server) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.svc.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	s.t.Cleanup(stop)
	return stop
}

// keysByName reads a snapshot on the admin key and returns every
// certificate's private key (PKCS#8), by name; each must be usable.
func keysByName(t *testing.T, s *server) map[string][]byte {
	t.Helper()
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	defer w.cancel()
	out := map[string][]byte{}
	for name, item := range w.snapshotItems() {
		wantUsable(t, name, item)
		out[name] = item.GetPrivateKeyPkcs8()
	}
	return out
}

// sealedKeyIDs opens the stopped server's database and returns how many
// sealed keys, in records and in the changelog, name each key id ("" for
// values from before key ids).
func sealedKeyIDs(t *testing.T, s *server) map[string]int {
	t.Helper()
	db, err := bolt.Open(filepath.Join(s.cfg.DataDir, "certmgr.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := map[string]int{}
	type rec struct {
		SealedKey []byte `json:"sealedKey"`
	}
	err = db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("certificates")).ForEach(func(_, v []byte) error {
			var r rec
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			ids[seal.KeyID(r.SealedKey)]++
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket([]byte("changelog")).ForEach(func(_, v []byte) error {
			var ch struct{ Before, After *rec }
			if err := json.Unmarshal(v, &ch); err != nil {
				return err
			}
			for _, r := range []*rec{ch.Before, ch.After} {
				if r != nil && len(r.SealedKey) > 0 {
					ids[seal.KeyID(r.SealedKey)]++
				}
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func keyFileID(t *testing.T, path string) string {
	t.Helper()
	k, err := seal.LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return k.ID()
}

// waitIdle waits until the service's rotation is over.
func waitIdle(t *testing.T, s *server) masterkey.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.svc.MasterKey().Status()
		if st.State == masterkey.StateIdle {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation still running after 10s: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fillForRotation uploads n certificates and rotates and disables some, so
// that both records and the changelog hold sealed keys.
func fillForRotation(t *testing.T, s *server, n int) {
	t.Helper()
	for i := range n {
		req, _ := clientUpload(t, fmt.Sprintf("cert%d", i))
		c, err := s.certs().CreateCertificate(as(adminKey), req)
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			_, leaf := clientUpload(t, "again")
			if _, err := s.certs().RotateCertificate(as(adminKey), rotation(c.GetCertificate().GetId(), leaf)); err != nil {
				t.Fatal(err)
			}
		}
		if i%4 == 0 {
			if _, err := s.certs().DisableCertificate(as(adminKey), &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: c.GetCertificate().GetId()}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// wantRotated checks, with the server s stopped, that the master key file
// holds a key other than old, that every sealed key names it, that the
// old key is kept as its retired file and that no next key file is left.
func wantRotated(t *testing.T, s *server, old string) string {
	t.Helper()
	files := masterkey.Files{Path: s.cfg.MasterKeyFile}
	cur := keyFileID(t, files.Path)
	if cur == old {
		t.Fatalf("the master key file still holds key %s", old)
	}
	if got := keyFileID(t, files.Retired(old)); got != old {
		t.Fatalf("retired file holds key %s, want %s", got, old)
	}
	for _, p := range []string{files.Next(), files.Next() + ".tmp"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s left behind (%v)", p, err)
		}
	}
	ids := sealedKeyIDs(t, s)
	if len(ids) != 1 || ids[cur] == 0 {
		t.Fatalf("sealed keys by key id: %v; want all under %s", ids, cur)
	}
	return cur
}

// TestMasterKeyRotationRewrapsEverything: a rotation re-seals every key,
// in records and changelog, under a new key, while a subscriber sees no
// change and every key still streams the same; the old key is retired
// and the store starts with the new file alone.
func TestMasterKeyRotationRewrapsEverything(t *testing.T) {
	s := startServer(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, nil, 3) })
	fillForRotation(t, s, 12)
	before := keysByName(t, s)
	rev := s.revision()
	old := keyFileID(t, s.cfg.MasterKeyFile)

	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	w.snapshotItems()
	s.run()
	st, started, err := s.svc.MasterKey().Start()
	if err != nil || !started || st.State != masterkey.StateRotating || st.PreviousKeyID != old {
		t.Fatalf("Start = %+v, %v, %v", st, started, err)
	}
	st = waitIdle(t, s)
	if st.Rewrapped == 0 || st.PreviousKeyID != old || st.KeyID == old || st.Damaged != 0 {
		t.Fatalf("status after rotation: %+v", st)
	}
	if s.revision() != rev {
		t.Fatalf("rotation moved the revision from %d to %d", rev, s.revision())
	}
	// A certificate written after the rotation is the first change the
	// subscriber sees.
	req, _ := clientUpload(t, "after")
	if _, err := s.certs().CreateCertificate(as(adminKey), req); err != nil {
		t.Fatal(err)
	}
	if ch := w.change(); ch.GetMaterial().GetCertificate().GetName() != "after" {
		t.Fatalf("first change after the rotation: %v", ch)
	}
	after := keysByName(t, s)
	for name, key := range before {
		if !bytes.Equal(after[name], key) {
			t.Fatalf("%s streams another key after the rotation", name)
		}
	}
	s.stop()
	cur := wantRotated(t, s, old)
	if err := os.Remove(masterkey.Files{Path: s.cfg.MasterKeyFile}.Retired(old)); err != nil {
		t.Fatal(err)
	}
	s.start()
	if got := keysByName(t, s); len(got) != len(before)+1 {
		t.Fatalf("after a restart without the retired key %d certificates stream, want %d", len(got), len(before)+1)
	}
	// Resuming from the changelog sends keys sealed under the new key.
	rw := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{FromRevision: 1, Epoch: epoch(t, s)})
	for range 5 {
		if ch := rw.change(); ch.GetMaterial() != nil && ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_DELETED {
			wantUsable(t, fmt.Sprintf("change %d", ch.GetRevision()), ch.GetMaterial())
		}
	}
	if st := s.svc.MasterKey().Status(); st.KeyID != cur {
		t.Fatalf("after restart the key is %s, want %s", st.KeyID, cur)
	}
}

// rotationSteps are the steps a rotation reports, with how many times the
// test's store (12 certificates, batches of 3) reports each at least.
var rotationSteps = []struct {
	name string
	nth  int
}{
	{"next-key-written", 1},
	{"rotation-begun", 1},
	{"certificates-batch", 1},
	{"certificates-batch", 3},
	{"changelog-batch", 1},
	{"changelog-batch", 4},
	{"store-switched", 1},
	{"files-swapped", 1},
}

// TestMasterKeyRotationCutOffAtEveryStep stops a rotation after each of
// its durable steps, as a crash there would, and starts the service again
// from its files: every certificate streams its own key, the rotation is
// finished (or, cut off before the store knew of the new key, undone), and
// a second rotation completes.
func TestMasterKeyRotationCutOffAtEveryStep(t *testing.T) {
	for _, step := range rotationSteps {
		t.Run(fmt.Sprintf("%s-%d", step.name, step.nth), func(t *testing.T) {
			crashed := make(chan struct{})
			seen, dead := 0, false
			hook := func(name string) error {
				if dead {
					return errCrash
				}
				if name == step.name {
					if seen++; seen == step.nth {
						dead = true
						close(crashed)
						return errCrash
					}
				}
				return nil
			}
			s := startServer(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, hook, 3) })
			fillForRotation(t, s, 12)
			want := keysByName(t, s)
			old := keyFileID(t, s.cfg.MasterKeyFile)
			stopRun := s.run()
			_, _, err := s.svc.MasterKey().Start()
			if err != nil && !errors.Is(err, errCrash) {
				t.Fatal(err)
			}
			select {
			case <-crashed:
			case <-time.After(10 * time.Second):
				t.Fatal("the rotation never reached the step")
			}
			stopRun()
			s.stop()

			certmgr.SetRotationHooks(&s.cfg, nil, 3)
			s.start()
			s.run()
			waitIdle(t, s)
			got := keysByName(t, s)
			for name, key := range want {
				if !bytes.Equal(got[name], key) {
					t.Fatalf("after the restart %s does not stream its key", name)
				}
			}
			rotated := step.name != "next-key-written"
			s.stop()
			if rotated {
				wantRotated(t, s, old)
			} else if cur := keyFileID(t, s.cfg.MasterKeyFile); cur != old {
				t.Fatalf("a rotation cut off before it began changed the key to %s", cur)
			}
			s.start()
			s.run()
			mid := keyFileID(t, s.cfg.MasterKeyFile)
			if _, started, err := s.svc.MasterKey().Start(); err != nil || !started {
				t.Fatalf("second rotation: %v, %v", started, err)
			}
			waitIdle(t, s)
			got = keysByName(t, s)
			for name, key := range want {
				if !bytes.Equal(got[name], key) {
					t.Fatalf("after a second rotation %s does not stream its key", name)
				}
			}
			s.stop()
			wantRotated(t, s, mid)
		})
	}
}

// TestMasterKeyRetiredKeyIsRefused: after a rotation, a start with the
// retired key in master.key (an operator restoring the wrong backup) is
// refused with an error that names the key the store needs and the file
// that still holds it; a database copied from before the rotation is
// pointed at the retired file that opens it.
func TestMasterKeyRetiredKeyIsRefused(t *testing.T) {
	s := startServer(t)
	fillForRotation(t, s, 2)
	s.stop()
	oldDB, err := os.ReadFile(filepath.Join(s.cfg.DataDir, "certmgr.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	old := keyFileID(t, s.cfg.MasterKeyFile)
	s.run()
	if _, _, err := s.svc.MasterKey().Start(); err != nil {
		t.Fatal(err)
	}
	cur := waitIdle(t, s).KeyID
	s.stop()
	files := masterkey.Files{Path: s.cfg.MasterKeyFile}
	newKey, err := os.ReadFile(files.Path)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(files.Retired(old))
	if err != nil {
		t.Fatal(err)
	}

	// The retired key put back as master.key.
	if err := os.Remove(files.Path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files.Path, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	newMust(t, s.cfg, "does not open this database", "key id "+old, "needs key id "+cur)

	// The new key with a database from before the rotation.
	if err := os.WriteFile(files.Path, newKey, 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(s.cfg.DataDir, "certmgr.db")
	if err := os.WriteFile(dbPath, oldDB, 0o600); err != nil {
		t.Fatal(err)
	}
	newMust(t, s.cfg, "needs key id "+old, files.Retired(old))
}

// TestMasterKeyNextMissingMidRotationIsRefused: a rotation cut off after
// the store named the next key needs master.key.next; a start without it
// (or with another key there) is refused, naming the file to restore, and
// starts once it is back.
func TestMasterKeyNextMissingMidRotationIsRefused(t *testing.T) {
	hook := func(step string) error {
		if step == "certificates-batch" {
			return errCrash
		}
		return nil
	}
	s := startServer(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, hook, 2) })
	fillForRotation(t, s, 6)
	want := keysByName(t, s)
	stopRun := s.run()
	if _, _, err := s.svc.MasterKey().Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.svc.MasterKey().Status().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatal("the rotation never stopped at its first batch")
		}
		time.Sleep(time.Millisecond)
	}
	stopRun()
	s.stop()

	files := masterkey.Files{Path: s.cfg.MasterKeyFile}
	nextKey, err := os.ReadFile(files.Next())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(files.Next()); err != nil {
		t.Fatal(err)
	}
	certmgr.SetRotationHooks(&s.cfg, nil, 2)
	newMust(t, s.cfg, "rotation is in progress", "restore "+files.Next())
	if err := seal.CreateKeyFile(files.Next()); err != nil {
		t.Fatal(err)
	}
	newMust(t, s.cfg, "rotation is in progress", files.Next()+" holds key")
	if err := os.WriteFile(files.Next(), nextKey, 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	s.run()
	waitIdle(t, s)
	got := keysByName(t, s)
	for name, key := range want {
		if !bytes.Equal(got[name], key) {
			t.Fatalf("%s does not stream its key after the rotation resumed", name)
		}
	}
}

// TestMasterKeyRotationUnderWrites rotates while four writers upload and
// rotate certificates and a subscriber follows the stream: every write
// succeeds, the subscriber receives exactly one change per write (the
// re-sealing itself is invisible), each with a usable key, and when the
// rotation is over no value in the store is sealed with the old key, even
// those sealed by writes that raced with the switch to the new one.
func TestMasterKeyRotationUnderWrites(t *testing.T) {
	s := startServer(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, nil, 2) })
	fillForRotation(t, s, 20)
	old := keyFileID(t, s.cfg.MasterKeyFile)
	w := watch(t, s, adminKey, &certmgrv1.WatchCertificatesRequest{})
	_, from := w.snapshot()
	s.run()

	stop := make(chan struct{})
	errs := make(chan error, 4)
	// The revisions the writes took: revisions increase, not necessarily
	// by one, so the stream is checked against these.
	var mu sync.Mutex
	var written []uint64
	wrote := func(c *certmgrv1.Certificate) {
		mu.Lock()
		defer mu.Unlock()
		written = append(written, c.GetRevision())
	}
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				req, leaf := clientUpload(t, fmt.Sprintf("w%dn%d", g, i))
				c, err := s.certs().CreateCertificate(as(adminKey), req)
				if err == nil {
					wrote(c.GetCertificate())
				}
				if err == nil && i%2 == 0 {
					var r *certmgrv1.RotateCertificateResponse
					if r, err = s.certs().RotateCertificate(as(adminKey), rotation(c.GetCertificate().GetId(), leaf)); err == nil {
						wrote(r.GetCertificate())
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if _, _, err := s.svc.MasterKey().Start(); err != nil {
		t.Fatal(err)
	}
	st := waitIdle(t, s)
	time.Sleep(20 * time.Millisecond)
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("a write during the rotation failed: %v", err)
		}
	}
	head := s.revision()
	slices.Sort(written)
	if len(written) < 8 {
		t.Fatalf("only %d writes during the rotation", len(written))
	}
	if written[0] <= from || written[len(written)-1] != head {
		t.Fatalf("writes took revisions %d to %d, want after the snapshot's %d and up to the head %d", written[0], written[len(written)-1], from, head)
	}
	for _, rev := range written {
		ch := w.change()
		if ch.GetRevision() != rev {
			t.Fatalf("change at revision %d, want the next write's %d", ch.GetRevision(), rev)
		}
		wantUsable(t, fmt.Sprintf("change %d", rev), ch.GetMaterial())
	}
	s.stop()
	cur := wantRotated(t, s, old)
	t.Logf("%d writes during a rotation that re-sealed %d keys; all sealed with %s", head-from, st.Rewrapped, cur)
}

func (s *server) masterKey() certmgrv1.MasterKeyServiceClient {
	return certmgrv1.NewMasterKeyServiceClient(s.conn)
}

// TestMasterKeyServiceIsAdminOnly: only the admin key may start a rotation
// or read its status; account and edge keys are refused and nothing
// changes.
func TestMasterKeyServiceIsAdminOnly(t *testing.T) {
	s := startServer(t)
	fillForRotation(t, s, 1)
	s.run()
	account, err := createKey(s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	edge, err := createKey(s, "acme", "edge")
	if err != nil {
		t.Fatal(err)
	}
	before := keyFileID(t, s.cfg.MasterKeyFile)
	for _, key := range []string{account, edge} {
		_, err := s.masterKey().RotateMasterKey(as(key), &certmgrv1.RotateMasterKeyRequest{})
		wantCode(t, err, codes.PermissionDenied, "only the admin key may rotate the master key")
		_, err = s.masterKey().GetMasterKeyStatus(as(key), &certmgrv1.GetMasterKeyStatusRequest{})
		wantCode(t, err, codes.PermissionDenied, "only the admin key")
	}
	_, err = s.masterKey().RotateMasterKey(context.Background(), &certmgrv1.RotateMasterKeyRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
	if st := s.svc.MasterKey().Status(); st.State != masterkey.StateIdle || st.KeyID != before || keyFileID(t, s.cfg.MasterKeyFile) != before {
		t.Fatalf("a refused call changed the master key: %+v", st)
	}
	if _, err := os.Stat(masterkey.Files{Path: s.cfg.MasterKeyFile}.Next()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused call wrote a next key file (%v)", err)
	}

	resp, err := s.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	if err != nil || !resp.GetStarted() || resp.GetStatus().GetPreviousKeyId() != before {
		t.Fatalf("admin rotation: %v, %v", resp, err)
	}
	waitIdle(t, s)
	got, err := s.masterKey().GetMasterKeyStatus(as(adminKey), &certmgrv1.GetMasterKeyStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st := got.GetStatus(); st.GetState() != "idle" || st.GetKeyId() == before || st.GetKeyId() != keyFileID(t, s.cfg.MasterKeyFile) ||
		st.GetPreviousKeyId() != before || st.GetRetiredKeyFile() != (masterkey.Files{Path: s.cfg.MasterKeyFile}).Retired(before) || st.GetFinishedAt() == nil {
		t.Fatalf("status after the rotation: %v", st)
	}
}

// TestMasterKeyRotationWhileRotating: a second request while a rotation is
// under way starts nothing and reports the rotation in progress.
func TestMasterKeyRotationWhileRotating(t *testing.T) {
	release := make(chan struct{})
	hook := func(step string) error {
		if step == "certificates-batch" {
			<-release
		}
		return nil
	}
	s := startServer(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, hook, 0) })
	fillForRotation(t, s, 2)
	s.run()
	first, err := s.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	if err != nil || !first.GetStarted() {
		t.Fatalf("first: %v, %v", first, err)
	}
	second, err := s.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	if err != nil || second.GetStarted() || second.GetStatus().GetState() != "rotating" || second.GetStatus().GetKeyId() != first.GetStatus().GetKeyId() {
		t.Fatalf("second: %v, %v; want the first rotation's status, not started", second, err)
	}
	close(release)
	waitIdle(t, s)
}

// TestMasterKeyRotationKeyFileError: when the new key file cannot be
// written, the rotation is refused with FailedPrecondition naming the file,
// and nothing changes.
func TestMasterKeyRotationKeyFileError(t *testing.T) {
	s := startServer(t)
	fillForRotation(t, s, 1)
	s.run()
	before := keyFileID(t, s.cfg.MasterKeyFile)
	// A directory that is not empty where the temporary file goes cannot be
	// removed or written, even by root.
	blocker := s.cfg.MasterKeyFile + ".next.tmp"
	if err := os.MkdirAll(filepath.Join(blocker, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := s.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	wantCode(t, err, codes.FailedPrecondition, "cannot write the new master key file "+s.cfg.MasterKeyFile+".next")
	if st := s.svc.MasterKey().Status(); st.State != masterkey.StateIdle || st.KeyID != before {
		t.Fatalf("after a refused rotation: %+v", st)
	}
	if err := os.RemoveAll(blocker); err != nil {
		t.Fatal(err)
	}
	if _, err := s.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)
}
