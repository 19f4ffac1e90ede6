package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/certbind/certbind/internal/testetcd"
	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/certmgr/certs"
	"github.com/certbind/certbind/services/certmgr/material"
	"github.com/certbind/certbind/services/certmgr/store"
)

// The model of the linearizability check: each certificate name of one
// project is a register, checked on its own (porcupine partitions the
// history by name). A name is absent or holds a certificate (its id and
// version); create is create-if-absent, rotate replaces the material of
// the id it names as the next version, delete removes the id it names, get
// reads the name. A call whose outcome is unknown (etcd unavailable, a
// timeout) may have taken effect or not, at any time after it was made.

// lzInput is a call: op is "create", "get", "rotate" or "delete"; id is
// the certificate a rotate or delete names.
type lzInput struct {
	op, name, id string
}

// lzOutput is an answer: "ok" (with the id and version for create, get
// and rotate), "taken" (create: the name is in use), "absent" (get, rotate,
// delete: no such certificate), "refused" (rotate, delete: another delete
// of it is in progress) or "unknown".
type lzOutput struct {
	kind    string
	id      string
	version int32
}

// lzState is a name's register. anyID marks a certificate created by a
// create whose answer was lost: its id is learnt from the next read.
type lzState struct {
	exists  bool
	id      string
	anyID   bool
	version int32
}

func (s lzState) is(id string) bool { return s.exists && (s.anyID || s.id == id) }

func lzStep(state, input, output any) []any {
	s, in, out := state.(lzState), input.(lzInput), output.(lzOutput)
	same := []any{s}
	switch in.op {
	case "create":
		created := lzState{exists: true, id: out.id, version: 1}
		switch out.kind {
		case "ok":
			if !s.exists && out.version == 1 {
				return []any{created}
			}
		case "taken":
			if s.exists {
				return same
			}
		case "unknown":
			if !s.exists {
				return []any{s, lzState{exists: true, anyID: true, version: 1}}
			}
			return same
		}
	case "get":
		switch out.kind {
		case "ok":
			if s.is(out.id) && s.version == out.version {
				return []any{lzState{exists: true, id: out.id, version: out.version}}
			}
		case "absent":
			if !s.exists {
				return same
			}
		}
	case "rotate":
		switch out.kind {
		case "ok":
			if s.is(in.id) && out.version == s.version+1 {
				return []any{lzState{exists: true, id: in.id, version: out.version}}
			}
		case "absent":
			if !s.exists || (!s.anyID && s.id != in.id) {
				return same
			}
			if s.anyID {
				return same // the unknown id may be another
			}
		case "refused":
			if s.is(in.id) {
				return same
			}
		case "unknown":
			if s.is(in.id) {
				return []any{s, lzState{exists: true, id: in.id, version: s.version + 1}}
			}
			return same
		}
	case "delete":
		switch out.kind {
		case "ok":
			if s.is(in.id) {
				return []any{lzState{}}
			}
		case "absent":
			if !s.is(in.id) || s.anyID {
				return same
			}
		case "refused":
			// A delete refused because another holds the certificate's
			// claim reads nothing: that one may have just removed it.
			return same
		case "unknown":
			if s.is(in.id) {
				return []any{s, lzState{}}
			}
			return same
		}
	}
	return nil
}

var lzModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byName := map[string][]porcupine.Operation{}
		var names []string
		for _, op := range history {
			n := op.Input.(lzInput).name
			if _, ok := byName[n]; !ok {
				names = append(names, n)
			}
			byName[n] = append(byName[n], op)
		}
		var out [][]porcupine.Operation
		for _, n := range names {
			out = append(out, byName[n])
		}
		return out
	},
	Init: func() []any { return []any{lzState{}} },
	Step: lzStep,
	DescribeOperation: func(input, output any) string {
		in, out := input.(lzInput), output.(lzOutput)
		return fmt.Sprintf("%s(%s %s) -> %s %s v%d", in.op, in.name, in.id, out.kind, out.id, out.version)
	},
}

// TestModelRejectsBadHistories: the model accepts what a linearizable
// store may answer and rejects what it may not, so the check below can
// fail.
func TestModelRejectsBadHistories(t *testing.T) {
	never := int64(math.MaxInt64)
	op := func(client int, call, ret int64, in lzInput, out lzOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
	}
	create := lzInput{op: "create", name: "a"}
	get := lzInput{op: "get", name: "a"}
	for _, tc := range []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"a read after a create sees it", []porcupine.Operation{
			op(0, 0, 10, create, lzOutput{kind: "ok", id: "c1", version: 1}),
			op(1, 20, 30, get, lzOutput{kind: "ok", id: "c1", version: 1}),
		}, porcupine.Ok},
		{"stale read: absent after the create returned", []porcupine.Operation{
			op(0, 0, 10, create, lzOutput{kind: "ok", id: "c1", version: 1}),
			op(1, 20, 30, get, lzOutput{kind: "absent"}),
		}, porcupine.Illegal},
		{"a read concurrent with the create may miss it", []porcupine.Operation{
			op(0, 0, 10, create, lzOutput{kind: "ok", id: "c1", version: 1}),
			op(1, 5, 30, get, lzOutput{kind: "absent"}),
		}, porcupine.Ok},
		{"stale read: the version before a finished rotation", []porcupine.Operation{
			op(0, 0, 10, create, lzOutput{kind: "ok", id: "c1", version: 1}),
			op(0, 20, 30, lzInput{op: "rotate", name: "a", id: "c1"}, lzOutput{kind: "ok", version: 2}),
			op(1, 40, 50, get, lzOutput{kind: "ok", id: "c1", version: 1}),
		}, porcupine.Illegal},
		{"two creates of one name both won", []porcupine.Operation{
			op(0, 0, 10, create, lzOutput{kind: "ok", id: "c1", version: 1}),
			op(1, 0, 10, create, lzOutput{kind: "ok", id: "c2", version: 1}),
		}, porcupine.Illegal},
		{"a rotation lost: two rotations both gave version 2", []porcupine.Operation{
			op(0, 0, 10, create, lzOutput{kind: "ok", id: "c1", version: 1}),
			op(0, 20, 30, lzInput{op: "rotate", name: "a", id: "c1"}, lzOutput{kind: "ok", version: 2}),
			op(1, 20, 30, lzInput{op: "rotate", name: "a", id: "c1"}, lzOutput{kind: "ok", version: 2}),
		}, porcupine.Illegal},
		{"a create whose answer was lost may have happened", []porcupine.Operation{
			op(0, 0, never, create, lzOutput{kind: "unknown"}),
			op(1, 20, 30, get, lzOutput{kind: "ok", id: "c9", version: 1}),
		}, porcupine.Ok},
		{"but not come and gone without a delete", []porcupine.Operation{
			op(0, 0, never, create, lzOutput{kind: "unknown"}),
			op(1, 20, 30, get, lzOutput{kind: "ok", id: "c9", version: 1}),
			op(1, 40, 50, get, lzOutput{kind: "absent"}),
		}, porcupine.Illegal},
		{"a deleted certificate read after the delete returned", []porcupine.Operation{
			op(0, 0, 10, create, lzOutput{kind: "ok", id: "c1", version: 1}),
			op(0, 20, 30, lzInput{op: "delete", name: "a", id: "c1"}, lzOutput{kind: "ok"}),
			op(1, 40, 50, get, lzOutput{kind: "ok", id: "c1", version: 1}),
		}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(lzModel.ToModel(), tc.history, 10*time.Second); got != tc.want {
				t.Errorf("check = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestLinearizableAcrossLeaderKill records concurrent certificate calls of
// several clients through two certmgr replicas (each its own Manager,
// store and etcd client) on a 3-member etcd cluster, kills the leader
// midway, and checks the history against the model.
func TestLinearizableAcrossLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member etcd cluster")
	}
	cluster := testetcd.StartCluster(t, 3)
	prefix := testetcd.Prefix(t)
	sealer := testSealer(t)
	var ms []*certs.Manager
	for range 2 {
		cli, err := clientv3.New(clientv3.Config{Endpoints: cluster.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		st, err := Open(cli, Options{Prefix: prefix, Timeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		ms = append(ms, certs.New(certs.Config{Store: st, Sealer: sealer, References: certs.NoReferences{}}))
	}
	ca := testpki.NewCA(t, "Root")
	var leaves []material.Input
	for i := range 4 {
		l := ca.Issue(t, testpki.Options{CommonName: fmt.Sprintf("backend%d", i)})
		leaves = append(leaves, material.Input{CertificatePEM: l.CertPEM, KeyPEM: l.KeyPEM})
	}

	const clients, runFor = 8, 4 * time.Second
	names := []string{"alpha", "beta", "gamma"}
	start := time.Now()
	stamp := func() int64 { return int64(time.Since(start)) }
	var mu sync.Mutex
	var history []porcupine.Operation
	unknown := map[string]int{} // the errors of calls with unknown outcome
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			m := ms[c%2]
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			known := map[string]string{} // the last id this client saw for a name
			for time.Since(start) < runFor {
				name := names[rng.IntN(len(names))]
				in := lzInput{name: name}
				var out lzOutput
				call := stamp()
				switch r := rng.IntN(10); {
				case r < 3:
					in.op = "create"
					got, err := m.Create(context.Background(), "test", certs.CreateInput{Account: "acme", Project: "shop", Name: name, EnvironmentTypes: []string{"production"}, Material: leaves[0]})
					switch {
					case err == nil:
						out = lzOutput{kind: "ok", id: got.ID, version: got.Version}
						known[name] = got.ID
					case errors.Is(err, store.ErrNameTaken):
						out.kind = "taken"
					default:
						out = lzOutput{kind: "unknown", id: err.Error()}
					}
				case r < 6:
					in.op = "get"
					got, err := m.Resolve("acme", "shop", []string{name}, nil)
					switch {
					case err != nil:
						continue // a read that failed tells nothing
					case len(got) == 0:
						out.kind = "absent"
					default:
						out = lzOutput{kind: "ok", id: got[0].ID, version: got[0].Version}
						known[name] = got[0].ID
					}
				default:
					id := known[name]
					if id == "" {
						continue
					}
					in.id = id
					var err error
					if r < 8 {
						in.op = "rotate"
						var got *store.Certificate
						if got, err = m.Rotate(context.Background(), "test", "acme", "shop", id, leaves[rng.IntN(len(leaves))]); err == nil {
							out = lzOutput{kind: "ok", id: id, version: got.Version}
						}
					} else {
						in.op = "delete"
						if _, err = m.Delete(context.Background(), "test", "acme", "shop", id); err == nil {
							out.kind = "ok"
						}
					}
					switch {
					case err == nil:
					case errors.Is(err, store.ErrNotFound):
						out.kind = "absent"
					case errors.Is(err, certs.ErrDeleting), errors.Is(err, certs.ErrBusy):
						out.kind = "refused"
					default:
						out = lzOutput{kind: "unknown", id: err.Error()}
					}
				}
				ret := stamp()
				mu.Lock()
				if out.kind == "unknown" {
					// It may take effect at any time from now on.
					ret = math.MaxInt64
					unknown[out.id]++
					out.id = ""
				}
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		})
	}
	time.Sleep(runFor / 3)
	leader := cluster.Leader()
	if leader < 0 {
		t.Fatal("the cluster has no leader to kill")
	}
	killedAt := time.Since(start)
	cluster.Kill(leader)
	wg.Wait()

	after := 0
	for _, op := range history {
		if time.Duration(op.Call) > killedAt && op.Return != math.MaxInt64 {
			after++
		}
	}
	t.Logf("%d calls by %d clients on 2 replicas; leader m%d killed at %v, %d calls answered after it",
		len(history), clients, leader, killedAt.Round(time.Millisecond), after)
	for msg, n := range unknown {
		t.Logf("%d calls with unknown outcome failed with: %s", n, msg)
	}
	if after == 0 {
		t.Fatal("no call was answered after the leader was killed: the history does not cover the failover")
	}
	begin := time.Now()
	res, info := porcupine.CheckOperationsVerbose(lzModel.ToModel(), history, 60*time.Second)
	t.Logf("checked in %v: %s", time.Since(begin).Round(time.Millisecond), res)
	if res != porcupine.Ok {
		if dir := t.TempDir(); dir != "" {
			path := dir + "/history.html"
			if err := porcupine.VisualizePath(lzModel.ToModel(), info, path); err == nil {
				t.Logf("the history is drawn in %s", path)
			}
		}
		t.Fatalf("the history of certificate calls is not linearizable (%s)", res)
	}
}
