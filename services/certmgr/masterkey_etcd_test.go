package certmgr_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"

	"github.com/certbind/certbind/internal/testetcd"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	"github.com/certbind/certbind/services/certmgr"
	"github.com/certbind/certbind/services/certmgr/masterkey"
	"github.com/certbind/certbind/services/certmgr/seal"
	"github.com/certbind/certbind/services/certmgr/webhook"
)

// etcdPair is two certmgr replicas on one etcd prefix, each with its own
// copy of the master key file in a directory of its own, as on two
// machines.
type etcdPair struct {
	cli    *clientv3.Client
	prefix string
	a, b   *server
}

// startEtcdReplica starts a replica named name on prefix; keyFrom, when
// set, is the master key file it gets a copy of.
func startEtcdReplica(t *testing.T, cli *clientv3.Client, prefix, name, keyFrom string, mutate ...func(*certmgr.Config)) *server {
	t.Helper()
	return startServer(t, append([]func(*certmgr.Config){func(c *certmgr.Config) {
		c.Etcd, c.EtcdPrefix, c.DataDir = cli, prefix, ""
		certmgr.SetReplica(c, name, 50*time.Millisecond)
		certmgr.SetRotationHooks(c, nil, 2)
		if keyFrom != "" {
			c.CreateMasterKey = false
			copyFile(t, keyFrom, c.MasterKeyFile)
		}
	}}, mutate...)...)
}

func startEtcdPair(t *testing.T, mutateA ...func(*certmgr.Config)) *etcdPair {
	t.Helper()
	cli, prefix := testetcd.Client(t)
	p := &etcdPair{cli: cli, prefix: prefix}
	p.a = startEtcdReplica(t, testetcd.NewClient(t), prefix, "replica-a", "", mutateA...)
	p.b = startEtcdReplica(t, testetcd.NewClient(t), prefix, "replica-b", p.a.cfg.MasterKeyFile)
	return p
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// stageNext writes a new next key beside a's master key file and copies it
// to each of others; it returns the key's id. The replicas read it when
// they start again.
func stageNext(t *testing.T, a *server, others ...*server) string {
	t.Helper()
	next := masterkey.Files{Path: a.cfg.MasterKeyFile}.Next()
	if err := seal.CreateKeyFile(next); err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		copyFile(t, next, masterkey.Files{Path: o.cfg.MasterKeyFile}.Next())
	}
	return keyFileID(t, next)
}

// etcdSealedKeyIDs counts the certificate records in etcd by the id of the
// key their private key is sealed with.
func etcdSealedKeyIDs(t *testing.T, p *etcdPair) map[string]int {
	t.Helper()
	resp, err := p.cli.Get(context.Background(), p.prefix+"certs/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, kv := range resp.Kvs {
		var r struct {
			SealedKey []byte `json:"sealedKey"`
		}
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.SealedKey) > 0 {
			ids[seal.KeyID(r.SealedKey)]++
		}
	}
	return ids
}

// waitRotatedTo waits until s's rotation is over and it seals with key id.
func waitRotatedTo(t *testing.T, s *server, id string) masterkey.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := s.svc.MasterKey().Status()
		if st.State == masterkey.StateIdle && st.KeyID == id {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica still not rotated to %s after 20s: %+v", id, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantFilesRotated checks that s's key files are those of a finished
// rotation from old to cur.
func wantFilesRotated(t *testing.T, s *server, old, cur string) {
	t.Helper()
	files := masterkey.Files{Path: s.cfg.MasterKeyFile}
	if got := keyFileID(t, files.Path); got != cur {
		t.Fatalf("%s holds key %s, want %s", files.Path, got, cur)
	}
	if got := keyFileID(t, files.Retired(old)); got != old {
		t.Fatalf("retired file holds key %s, want %s", got, old)
	}
	if _, err := os.Stat(files.Next()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left behind (%v)", files.Next(), err)
	}
}

// uploader creates certificates through the replicas in turn until
// stopped, and returns the ids it created.
func uploader(t *testing.T, replicas ...*server) (stop func() []string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ids []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			req, _ := clientUpload(t, fmt.Sprintf("during%d", i))
			c, err := replicas[i%len(replicas)].certs().CreateCertificate(as(adminKey), req)
			if err != nil {
				t.Errorf("upload during the rotation: %v", err)
				return
			}
			mu.Lock()
			ids = append(ids, c.GetCertificate().GetId())
			mu.Unlock()
		}
	}()
	return func() []string {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return ids
	}
}

// changeLog collects the changes a stream receives.
type changeLog struct {
	mu   sync.Mutex
	got  []*certmgrv1.CertificateChange
	done chan struct{}
}

func collectChanges(w *watcher) *changeLog {
	l := &changeLog{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			ev, err := w.stream.Recv()
			if err != nil {
				return
			}
			if ch := ev.GetChange(); ch != nil {
				l.mu.Lock()
				l.got = append(l.got, ch)
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// waitFor waits until the stream received a change of every id, and
// returns every change it received.
func (l *changeLog) waitFor(t *testing.T, ids []string) []*certmgrv1.CertificateChange {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l.mu.Lock()
		got := append([]*certmgrv1.CertificateChange(nil), l.got...)
		l.mu.Unlock()
		seen := map[string]bool{}
		for _, ch := range got {
			seen[ch.GetCertificateId()] = true
		}
		missing := 0
		for _, id := range ids {
			if !seen[id] {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		select {
		case <-l.done:
			t.Fatalf("the stream ended with %d of %d changes missing", missing, len(ids))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d changes never reached the stream", missing, len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMasterKeyRotationAcrossEtcdReplicas: with two replicas on etcd, a
// rotation is refused until every replica holds the next key (the error
// names the one that does not); then it re-seals every record under the
// next key while both replicas take uploads and a stream follows one of
// them, publishes no change for the re-sealing, and ends with every key
// still the same on both replicas, both key files moved on and the old key
// kept as PATH.retired-ID.
func TestMasterKeyRotationAcrossEtcdReplicas(t *testing.T) {
	p := startEtcdPair(t)
	fillForRotation(t, p.a, 6)
	req, _ := clientUpload(t, "onReplicaB")
	if _, err := p.b.certs().CreateCertificate(as(adminKey), req); err != nil {
		t.Fatal(err)
	}
	old := keyFileID(t, p.a.cfg.MasterKeyFile)

	_, err := p.a.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	wantCode(t, err, codes.FailedPrecondition, "--init-master-key --next")
	// A copy of the current key is no next key.
	aNext := masterkey.Files{Path: p.a.cfg.MasterKeyFile}.Next()
	copyFile(t, p.a.cfg.MasterKeyFile, aNext)
	p.a.restart()
	_, err = p.a.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	wantCode(t, err, codes.FailedPrecondition, "holds the current master key")
	if err := os.Remove(aNext); err != nil {
		t.Fatal(err)
	}

	next := stageNext(t, p.a)
	p.a.restart()
	_, err = p.a.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	wantCode(t, err, codes.FailedPrecondition, "replica(s) replica-b do not")
	// The replica that lacks it says the same.
	_, err = p.b.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	wantCode(t, err, codes.FailedPrecondition, "replica(s) replica-b do not (replica-a do)")
	if ids := etcdSealedKeyIDs(t, p); len(ids) != 1 || ids[old] == 0 {
		t.Fatalf("a refused rotation changed the records: sealed keys by id %v", ids)
	}

	copyFile(t, masterkey.Files{Path: p.a.cfg.MasterKeyFile}.Next(), masterkey.Files{Path: p.b.cfg.MasterKeyFile}.Next())
	p.b.restart()
	beforeA, beforeB := keysByName(t, p.a), keysByName(t, p.b)
	if len(beforeA) != 7 || len(beforeB) != 7 {
		t.Fatalf("replicas see %d and %d certificates, want 7", len(beforeA), len(beforeB))
	}

	w := watch(t, p.b, adminKey, &certmgrv1.WatchCertificatesRequest{})
	w.snapshotItems()
	stream := collectChanges(w)
	p.a.run()
	p.b.run()
	stopUploads := uploader(t, p.a, p.b)
	resp, err := p.a.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	if err != nil || !resp.GetStarted() || resp.GetStatus().GetKeyId() != next {
		t.Fatalf("RotateMasterKey = %v, %v", resp, err)
	}
	waitRotatedTo(t, p.a, next)
	waitRotatedTo(t, p.b, next)
	uploaded := stopUploads()
	if ids := etcdSealedKeyIDs(t, p); len(ids) != 1 || ids[next] == 0 {
		t.Fatalf("sealed keys by key id after the rotation: %v; want all under %s (old %s)", ids, next, old)
	}
	for _, ch := range stream.waitFor(t, uploaded) {
		if ch.GetType() != certmgrv1.ChangeType_CHANGE_TYPE_CREATED {
			t.Fatalf("the stream received a %v change of %s during the rotation; re-sealing must publish none", ch.GetType(), ch.GetCertificateId())
		}
		if d := ch.GetMaterial().GetCertificate().GetDamaged(); d != "" || ch.GetMaterial() == nil {
			t.Logf("replica a:\n%s\nreplica b:\n%s", p.a.logs.String(), p.b.logs.String())
			t.Fatalf("change %s at revision %d reached the stream without its key (material %v; old key %s, next %s): %s", ch.GetCertificateId(), ch.GetRevision(), ch.GetMaterial() != nil, old, next, d)
		}
		wantUsable(t, "change "+ch.GetCertificateId(), ch.GetMaterial())
	}
	w.cancel()

	if ids := etcdSealedKeyIDs(t, p); len(ids) != 1 || ids[next] == 0 {
		t.Fatalf("sealed keys by key id after the rotation: %v; want all under %s", ids, next)
	}
	afterA, afterB := keysByName(t, p.a), keysByName(t, p.b)
	for name, key := range beforeA {
		if string(afterA[name]) != string(key) || string(afterB[name]) != string(key) {
			t.Fatalf("certificate %s's private key changed across the rotation", name)
		}
	}
	if len(afterA) != len(afterB) {
		t.Fatalf("replicas see %d and %d certificates", len(afterA), len(afterB))
	}
	for name, key := range afterA {
		if string(afterB[name]) != string(key) {
			t.Fatalf("replicas disagree on certificate %s's private key", name)
		}
	}
	t.Logf("rotation re-sealed %d+%d records while %d certificates were uploaded", p.a.svc.MasterKey().Status().Rewrapped, p.b.svc.MasterKey().Status().Rewrapped, len(afterA)-len(beforeA))

	for _, s := range []*server{p.a, p.b} {
		s.stop()
		wantFilesRotated(t, s, old, next)
		// The old key is needed no more: a replica starts on the new file
		// alone.
		if err := os.Remove(masterkey.Files{Path: s.cfg.MasterKeyFile}.Retired(old)); err != nil {
			t.Fatal(err)
		}
		s.start()
	}
	if got := keysByName(t, p.b); len(got) != len(afterA) {
		t.Fatalf("after restarts replica b streams %d certificates, want %d", len(got), len(afterA))
	}
}

// crashAt returns a rotation step hook that fails at step, once, and a
// channel closed when it has.
func crashAt(step string) (func(string) error, <-chan struct{}) {
	fired := make(chan struct{})
	var once sync.Once
	return func(s string) error {
		if s != step {
			return nil
		}
		err := error(nil)
		once.Do(func() {
			err = errCrash
			close(fired)
		})
		if err == nil {
			// Once cut off, the replica stays stopped there, as a
			// dead one would.
			return errCrash
		}
		return err
	}, fired
}

// stagedPair is a pair of replicas on etcd with certificates in the store
// and a next key on both, read at their start; it returns the old and
// next key ids and every certificate's private key by name.
func stagedPair(t *testing.T, mutateA ...func(*certmgr.Config)) (p *etcdPair, old, next string, keys map[string][]byte) {
	t.Helper()
	p = startEtcdPair(t, mutateA...)
	fillForRotation(t, p.a, 7)
	old = keyFileID(t, p.a.cfg.MasterKeyFile)
	next = stageNext(t, p.a, p.b)
	p.a.restart()
	p.b.restart()
	return p, old, next, keysByName(t, p.a)
}

// wantAllRotated checks that every record is sealed with next, that both
// replicas stream every certificate with its key as before and that the
// key files of both (stopped) replicas moved from old to next.
func wantAllRotated(t *testing.T, p *etcdPair, old, next string, before map[string][]byte) {
	t.Helper()
	waitRotatedTo(t, p.a, next)
	waitRotatedTo(t, p.b, next)
	if ids := etcdSealedKeyIDs(t, p); len(ids) != 1 || ids[next] == 0 {
		t.Fatalf("sealed keys by key id: %v; want all under %s", ids, next)
	}
	for _, s := range []*server{p.a, p.b} {
		got := keysByName(t, s)
		if len(got) != len(before) {
			t.Fatalf("a replica streams %d certificates, want %d", len(got), len(before))
		}
		for name, key := range before {
			if string(got[name]) != string(key) {
				t.Fatalf("certificate %s's private key changed across the rotation", name)
			}
		}
	}
	for _, s := range []*server{p.a, p.b} {
		s.stop()
		wantFilesRotated(t, s, old, next)
	}
}

// TestEtcdRotationWalkTakenOverFromADeadReplica: the replica that claimed
// the rotation's walk dies after its first page; the other replica takes
// the walk on once the claim is gone and finishes it, and the dead one,
// started again, finds the rotation finished and moves its key files on.
func TestEtcdRotationWalkTakenOverFromADeadReplica(t *testing.T) {
	hook, fired := crashAt("certificates-batch")
	p, old, next, before := stagedPair(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, hook, 2) })
	stopA := p.a.run()
	if _, started, err := p.a.svc.MasterKey().Start(); err != nil || !started {
		t.Fatalf("Start = %v, %v", started, err)
	}
	<-fired
	if ids := etcdSealedKeyIDs(t, p); ids[old] == 0 || ids[next] == 0 {
		t.Fatalf("after the first page, sealed keys by id: %v; want some under each key", ids)
	}
	stopA()
	p.a.stop() // its lease is revoked, and the walk's claim with it
	p.b.run()
	waitRotatedTo(t, p.b, next)
	certmgr.SetRotationHooks(&p.a.cfg, nil, 2)
	p.a.start()
	p.a.run()
	wantAllRotated(t, p, old, next, before)
}

// TestEtcdRotationRestartAtEachStep: both replicas are stopped and started
// again at each step of a rotation (cut off on the replica that walks); the
// rotation then finishes, with every key as before.
func TestEtcdRotationRestartAtEachStep(t *testing.T) {
	for _, step := range []string{"rotation-begun", "walk-claimed", "certificates-batch", "store-switched", "files-swapped"} {
		t.Run(step, func(t *testing.T) {
			hook, fired := crashAt(step)
			p, old, next, before := stagedPair(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, hook, 2) })
			stopA := p.a.run()
			_, _, err := p.a.svc.MasterKey().Start()
			if step == "rotation-begun" && !errors.Is(err, errCrash) || step != "rotation-begun" && err != nil {
				t.Fatalf("Start = %v", err)
			}
			<-fired
			stopA()
			p.a.stop()
			p.b.stop()
			certmgr.SetRotationHooks(&p.a.cfg, nil, 2)
			p.b.start()
			p.a.start()
			p.a.run()
			p.b.run()
			wantAllRotated(t, p, old, next, before)
		})
	}
}

// TestEtcdReplicaWithoutTheNextKeyIsRefused: while a rotation is under
// way, a replica started without the next key is refused with an error
// that says which replica and what to copy; with the key it starts and
// seals with it.
func TestEtcdReplicaWithoutTheNextKeyIsRefused(t *testing.T) {
	hook, fired := crashAt("walk-claimed")
	p, _, next, _ := stagedPair(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, hook, 2) })
	stopA := p.a.run()
	if _, _, err := p.a.svc.MasterKey().Start(); err != nil {
		t.Fatal(err)
	}
	<-fired
	stopA()
	p.b.stop()
	nextFile := masterkey.Files{Path: p.b.cfg.MasterKeyFile}.Next()
	if err := os.Rename(nextFile, nextFile+".aside"); err != nil {
		t.Fatal(err)
	}
	_, err := certmgr.New(p.b.cfg)
	if err == nil || !strings.Contains(err.Error(), "this certmgr replica (replica-b) does not hold that key") || !strings.Contains(err.Error(), nextFile) {
		t.Fatalf("New without the next key = %v", err)
	}
	if err := os.Rename(nextFile+".aside", nextFile); err != nil {
		t.Fatal(err)
	}
	p.b.start()
	if st := p.b.svc.MasterKey().Status(); st.State != masterkey.StateRotating || st.KeyID != next {
		t.Fatalf("replica b's status = %+v, want rotating and sealing with %s", st, next)
	}
}

// TestEtcdWriteOfAReplicaBehindIsSealedWithTheNextKey: a replica that has
// not followed the rotation yet (its background work is not running)
// seals a new certificate with the key it was given at start; its write
// finds the master key records moved on, and it seals again with the next
// key before writing.
func TestEtcdWriteOfAReplicaBehindIsSealedWithTheNextKey(t *testing.T) {
	hook, fired := crashAt("walk-claimed")
	p, old, next, _ := stagedPair(t, func(c *certmgr.Config) { certmgr.SetRotationHooks(c, hook, 2) })
	if got := p.b.svc.MasterKey().Status().KeyID; got != old {
		t.Fatalf("replica b seals with %s before the rotation, want %s", got, old)
	}
	stopA := p.a.run()
	if _, _, err := p.a.svc.MasterKey().Start(); err != nil {
		t.Fatal(err)
	}
	<-fired
	stopA()
	// The walk is stopped, so the record keeps the key it was written
	// with.
	req, _ := clientUpload(t, "fromBehind")
	c, err := p.b.certs().CreateCertificate(as(adminKey), req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.cli.Get(context.Background(), p.prefix+"certs/acme/shop/"+c.GetCertificate().GetId())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("read the record: %v", err)
	}
	var r struct {
		SealedKey []byte `json:"sealedKey"`
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		t.Fatal(err)
	}
	if got := seal.KeyID(r.SealedKey); got != next {
		t.Fatalf("replica b sealed a new certificate with %s during the rotation, want the next key %s", got, next)
	}
	if got := p.b.svc.MasterKey().Status().KeyID; got != next {
		t.Fatalf("replica b seals with %s after its write, want %s", got, next)
	}
}

// TestEtcdRotationWithKeyFilesSharedOrUnmovable: two replicas that read
// the same key files (one directory, as from a shared mount) finish a
// rotation with the files moved once; a replica that cannot move its key
// files finishes it too, serves with the next key, says what to do in its
// status, and moves its files at a start once it can.
func TestEtcdRotationWithKeyFilesSharedOrUnmovable(t *testing.T) {
	t.Run("shared", func(t *testing.T) {
		cli, prefix := testetcd.Client(t)
		a := startEtcdReplica(t, testetcd.NewClient(t), prefix, "replica-a", "")
		b := startEtcdReplica(t, cli, prefix, "replica-b", "", func(c *certmgr.Config) { c.MasterKeyFile = a.cfg.MasterKeyFile })
		p := &etcdPair{cli: cli, prefix: prefix, a: a, b: b}
		fillForRotation(t, a, 5)
		old, before := keyFileID(t, a.cfg.MasterKeyFile), keysByName(t, a)
		next := stageNext(t, a)
		a.restart()
		b.restart()
		a.run()
		b.run()
		if _, started, err := b.svc.MasterKey().Start(); err != nil || !started {
			t.Fatalf("Start = %v, %v", started, err)
		}
		for _, s := range []*server{a, b} {
			if st := waitRotatedTo(t, s, next); st.LastError != "" {
				t.Fatalf("a replica sharing the key files: %+v", st)
			}
		}
		wantAllRotated(t, p, old, next, before)
		if _, err := os.Stat(masterkey.Files{Path: a.cfg.MasterKeyFile}.Retired(next)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the current key was also kept as a retired file (%v)", err)
		}
	})
	t.Run("unmovable", func(t *testing.T) {
		p, old, next, before := stagedPair(t)
		// Replica b read its next key at start; a directory in the file's
		// place now makes moving it over the key file fail, as a
		// read-only mount would.
		files := masterkey.Files{Path: p.b.cfg.MasterKeyFile}
		saved := filepath.Join(t.TempDir(), "next.key")
		copyFile(t, files.Next(), saved)
		if err := os.Remove(files.Next()); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(files.Next(), 0o700); err != nil {
			t.Fatal(err)
		}
		p.a.run()
		p.b.run()
		if _, _, err := p.a.svc.MasterKey().Start(); err != nil {
			t.Fatal(err)
		}
		st := waitRotatedTo(t, p.b, next)
		if !strings.Contains(st.LastError, "replace "+files.Path) {
			t.Fatalf("replica b's status after a rotation it could not move its files for: %+v", st)
		}
		if got := keyFileID(t, files.Path); got != old {
			t.Fatalf("the key file changed to %s", got)
		}
		// Given its next key file back, it moves its files at a start.
		if err := os.Remove(files.Next()); err != nil {
			t.Fatal(err)
		}
		copyFile(t, saved, files.Next())
		p.b.restart()
		wantAllRotated(t, p, old, next, before)
	})
}

// TestEtcdReplicaThatMissedTheRotationStops: a replica whose record was
// gone when a rotation began (as when its lease lapsed while it was cut
// off from etcd) and that lacks the next key stops serving, its Run
// returning an error that says what to copy, rather than send
// certificates it cannot open to its streams.
func TestEtcdReplicaThatMissedTheRotationStops(t *testing.T) {
	p := startEtcdPair(t)
	fillForRotation(t, p.a, 3)
	next := stageNext(t, p.a)
	p.a.restart()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- p.b.svc.Run(ctx) }()
	if _, err := p.cli.Delete(context.Background(), p.prefix+"replicas/replica-b"); err != nil {
		t.Fatal(err)
	}
	if _, started, err := p.a.svc.MasterKey().Start(); err != nil || !started {
		t.Fatalf("Start = %v, %v", started, err)
	}
	select {
	case err := <-ran:
		if !errors.Is(err, masterkey.ErrKeyMissing) || !strings.Contains(err.Error(), "replica-b") || !strings.Contains(err.Error(), next) {
			t.Fatalf("replica b's Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("replica b goes on serving without the key the store needs")
	}
}

// TestEtcdNextKeyReadAgainWithoutRestart: a next key put beside a running
// replica's key file is held and advertised once the replica reads it
// again (certmgr does on SIGHUP), and the rotation then goes through.
func TestEtcdNextKeyReadAgainWithoutRestart(t *testing.T) {
	p := startEtcdPair(t)
	fillForRotation(t, p.a, 4)
	old, before := keyFileID(t, p.a.cfg.MasterKeyFile), keysByName(t, p.a)
	next := stageNext(t, p.a, p.b)
	_, err := p.a.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{})
	wantCode(t, err, codes.FailedPrecondition, "appeared after this replica started: send each replica SIGHUP")
	for _, s := range []*server{p.a, p.b} {
		if id, err := s.svc.ReloadNextKey(); err != nil || id != next {
			t.Fatalf("ReloadNextKey = %q, %v; want %s", id, err, next)
		}
	}
	p.a.run()
	p.b.run()
	if _, started, err := p.b.svc.MasterKey().Start(); err != nil || !started {
		t.Fatalf("Start = %v, %v", started, err)
	}
	wantAllRotated(t, p, old, next, before)
}

// etcdWebhookSecretKeyIDs counts the webhooks in etcd by the id of the key
// their secret is sealed with.
func etcdWebhookSecretKeyIDs(t *testing.T, p *etcdPair) map[string]int {
	t.Helper()
	resp, err := p.cli.Get(context.Background(), p.prefix+"webhooks/hooks/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, kv := range resp.Kvs {
		var h webhook.Hook
		if err := json.Unmarshal(kv.Value, &h); err != nil {
			t.Fatal(err)
		}
		ids[seal.KeyID(h.SealedSecret)]++
	}
	return ids
}

// TestEtcdRotationSealsWebhookSecretsAgain: webhook secrets are sealed with
// the master key as private keys are, so a rotation on etcd seals them
// again before the previous key retires, and a webhook created before the
// rotation still signs with its secret after it.
func TestEtcdRotationSealsWebhookSecretsAgain(t *testing.T) {
	clk := &clock{t: time.Now()}
	rcv := newReceiver(t, 0)
	p, old, next, _ := stagedPair(t, withWebhooks(t, clk, rcv.pool()))
	created, err := p.a.hooks().CreateWebhook(as(adminKey), &certmgrv1.CreateWebhookRequest{Account: "acme", Name: "rotated",
		Url: rcv.srv.URL, Events: []string{webhook.EventCreated}})
	if err != nil {
		t.Fatal(err)
	}
	if ids := etcdWebhookSecretKeyIDs(t, p); ids[old] != 1 {
		t.Fatalf("webhook secrets by key id before the rotation: %v, want one under %s", ids, old)
	}
	stopA, stopB := p.a.run(), p.b.run()
	if _, err := p.a.masterKey().RotateMasterKey(as(adminKey), &certmgrv1.RotateMasterKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	waitRotatedTo(t, p.a, next)
	waitRotatedTo(t, p.b, next)
	stopA()
	stopB()
	if ids := etcdWebhookSecretKeyIDs(t, p); len(ids) != 1 || ids[next] != 1 {
		t.Fatalf("webhook secrets by key id after the rotation: %v, want the one under %s (old %s)", ids, next, old)
	}
	// Replica a, started again with only the new key, leads and signs.
	p.b.stop()
	p.a.restart()
	expiringIn(t, p.a, clk, "afterRotation", 90*24*time.Hour)
	p.a.pass()
	// Every delivery (the certificates filled in before the webhook was
	// created are told of too, since no pass had followed them) verifies
	// with the secret, the last one made after the rotation.
	found := false
	for _, r := range rcv.requests() {
		if checkSigned(t, created.GetSecret(), r).Certificate.Name == "afterRotation" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no delivery of the certificate created after the rotation among %d", len(rcv.requests()))
	}
}
