package cache

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/certbind/certbind/internal/keyfile"
	edgev1 "github.com/certbind/certbind/proto/certbind/edge/v1"
)

// FileName is the cache file's name in the cache directory.
const FileName = "edge-state.cache"

// DefaultMaxBytes bounds the cache file when Config.MaxBytes is 0: room for
// tens of thousands of certificates and deployments.
const DefaultMaxBytes = 64 << 20

// header starts every cache file: a name that says what the file is to
// whoever finds it, and the format's version. It is also the sealed part's
// associated data, so a value sealed for another purpose with the same key
// does not open as a cache.
var header = []byte("certbind edge cache\n\x01")

// ErrRefused wraps every reason a cache file is not used.
var ErrRefused = errors.New("edge cache refused")

// encode seals st into the bytes of a cache file.
func encode(s *sealer, st *edgev1.CachedState) ([]byte, error) {
	plain, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding the edge cache: %w", err)
	}
	defer clear(plain)
	sealed, err := s.Seal(plain, header)
	if err != nil {
		return nil, err
	}
	return append(bytes.Clone(header), sealed...), nil
}

// decode opens the bytes of a cache file. Every failure wraps ErrRefused
// and says what was wrong, never what the file holds.
func decode(s *sealer, data []byte) (*edgev1.CachedState, error) {
	if !bytes.HasPrefix(data, header) {
		if len(data) >= len(header) && bytes.HasPrefix(data, header[:len(header)-1]) {
			return nil, fmt.Errorf("%w: written in a format this edge does not know (version %d)", ErrRefused, data[len(header)-1])
		}
		return nil, fmt.Errorf("%w: not an edge cache file (it does not start with the cache's header)", ErrRefused)
	}
	sealed := data[len(header):]
	if id := sealedKeyID(sealed); id != "" && id != s.ID() {
		return nil, fmt.Errorf("%w: sealed with another key (key id %s; the key file holds %s)", ErrRefused, id, s.ID())
	}
	plain, err := s.Open(sealed, header)
	if err != nil {
		return nil, fmt.Errorf("%w: it does not open with the cache key (damaged, truncated or altered)", ErrRefused)
	}
	defer clear(plain)
	return decodeState(plain)
}

// decodeState parses and checks an opened cache. A cache that opened is
// one this edge wrote, but a bug of an older release or a disk that
// flipped bits before sealing should still not put a half-formed record in
// front of requests: anything out of shape refuses the whole cache.
func decodeState(plain []byte) (*edgev1.CachedState, error) {
	st := &edgev1.CachedState{}
	if err := proto.Unmarshal(plain, st); err != nil {
		return nil, fmt.Errorf("%w: its contents do not decode: %v", ErrRefused, err)
	}
	switch {
	case st.GetWrittenUnixMs() <= 0:
		return nil, fmt.Errorf("%w: it says no time it was written", ErrRefused)
	case st.GetCertificatesStream() == nil || st.GetDeploymentsStream() == nil:
		return nil, fmt.Errorf("%w: it lacks a stream's position", ErrRefused)
	case len(st.GetEdgeKeySha256()) != 32:
		return nil, fmt.Errorf("%w: it does not name the edge key it was written with", ErrRefused)
	}
	certs := map[string]bool{}
	for i, m := range st.GetCertificates() {
		c := m.GetCertificate()
		switch {
		case c.GetId() == "":
			return nil, fmt.Errorf("%w: certificate %d has no id", ErrRefused, i)
		case certs[c.GetId()]:
			return nil, fmt.Errorf("%w: certificate %s is there twice", ErrRefused, c.GetId())
		case c.GetAccount() == "":
			return nil, fmt.Errorf("%w: certificate %s has no account", ErrRefused, c.GetId())
		}
		certs[c.GetId()] = true
	}
	deps := map[string]bool{}
	served := map[[3]string]bool{}
	for i, d := range st.GetDeployments() {
		at := [3]string{d.GetAccount(), d.GetProject(), d.GetEnvironment()}
		switch {
		case d.GetId() == "":
			return nil, fmt.Errorf("%w: deployment %d has no id", ErrRefused, i)
		case at[0] == "" || at[1] == "" || at[2] == "":
			return nil, fmt.Errorf("%w: deployment %s lacks its account, project or environment", ErrRefused, d.GetId())
		case deps[d.GetId()] || served[at]:
			return nil, fmt.Errorf("%w: deployment %s is there twice", ErrRefused, d.GetId())
		}
		deps[d.GetId()], served[at] = true, true
	}
	return st, nil
}

// writeFile replaces path with data so that a crash leaves either the old
// file or the new one, whole: a temporary file in the same directory,
// synced, renamed over path, and the directory synced.
func writeFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return keyfile.SyncDir(dir)
}

// tempPattern names the temporary files writeFile makes; Open removes any
// a crash left behind.
const tempPattern = ".edge-state-*.tmp"
