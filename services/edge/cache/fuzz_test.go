package cache

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
)

// fuzzState is a sound state to seed the targets with.
func fuzzState() *edgev1.CachedState {
	return &edgev1.CachedState{WrittenUnixMs: 1, EdgeKeySha256: make([]byte, 32), Account: "acme",
		CertificatesStream: &edgev1.CachedStream{Revision: 3, Epoch: "e1"}, DeploymentsStream: &edgev1.CachedStream{Revision: 2, Epoch: "d1"},
		Certificates: []*certmgrv1.CertificateMaterial{material("a", "acme"), material("b", "acme")},
		Deployments:  []*deploytrackerv1.Deployment{deployment("prod", "acme"), deployment("staging", "acme")}}
}

// FuzzDecode feeds any bytes to the cache file's decoder as if read from
// disk, with a fixed key: it must never panic, and whatever it refuses is
// ErrRefused. Seeds are a sound file and pieces of it.
func FuzzDecode(f *testing.F) {
	s, err := newSealer(bytes.Repeat([]byte{1}, keySize))
	if err != nil {
		f.Fatal(err)
	}
	good, err := encode(s, fuzzState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(header)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decode(s, data)
		if err != nil {
			if st != nil || !errors.Is(err, ErrRefused) {
				t.Fatalf("decode: %v with a state", err)
			}
			return
		}
		checkSound(t, st)
	})
}

// FuzzDecodeState feeds any bytes to the decoder of an opened cache: a
// cache that opened but is out of shape (a bug, bits flipped before
// sealing) must be refused whole, never half used.
func FuzzDecodeState(f *testing.F) {
	good, err := proto.Marshal(fuzzState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, plain []byte) {
		st, err := decodeState(plain)
		if err != nil {
			if st != nil || !errors.Is(err, ErrRefused) {
				t.Fatalf("decodeState: %v with a state", err)
			}
			return
		}
		checkSound(t, st)
	})
}

// checkSound holds an accepted state to what the edge relies on.
func checkSound(t *testing.T, st *edgev1.CachedState) {
	t.Helper()
	if st.GetWrittenUnixMs() <= 0 || st.GetCertificatesStream() == nil || st.GetDeploymentsStream() == nil || len(st.GetEdgeKeySha256()) != 32 {
		t.Fatalf("accepted a state without its header fields: %v", st)
	}
	seen := map[string]bool{}
	for _, m := range st.GetCertificates() {
		id := m.GetCertificate().GetId()
		if id == "" || seen[id] || m.GetCertificate().GetAccount() == "" {
			t.Fatalf("accepted certificate %q (twice: %v)", id, seen[id])
		}
		seen[id] = true
	}
	at := map[string]bool{}
	for _, d := range st.GetDeployments() {
		k := d.GetAccount() + "/" + d.GetProject() + "/" + d.GetEnvironment()
		if d.GetId() == "" || d.GetAccount() == "" || d.GetProject() == "" || d.GetEnvironment() == "" || at[k] || seen["dep:"+d.GetId()] {
			t.Fatalf("accepted deployment %v", d)
		}
		at[k], seen["dep:"+d.GetId()] = true, true
	}
}
