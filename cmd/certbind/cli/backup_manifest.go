package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// backupFormat is the version of the backup directory's layout.
const backupFormat = 1

// manifestName is the file that describes a backup directory. It is written
// last: a directory without it holds no complete backup.
const manifestName = "manifest.json"

// backupManifest describes a backup directory.
type backupManifest struct {
	Format    int           `json:"format"`
	CreatedAt time.Time     `json:"createdAt"`
	Stores    []backupStore `json:"stores"`
	// MasterKey says where the master key is: never in the backup.
	MasterKey string `json:"masterKey"`
}

// backupStore describes one store's copy.
type backupStore struct {
	Name     string `json:"name"`
	File     string `json:"file"`
	Revision uint64 `json:"revision,string"`
	Epoch    string `json:"epoch"`
	Size     int64  `json:"size,string"`
	SHA256   string `json:"sha256"`
}

const masterKeyNote = "not included: certmgr.db holds the private keys, and webhooks.db the webhook secrets, sealed under master.key; restore it from where you keep it, separately from this backup"

// backupStores are the stores in the order they are copied (see
// admin_backup.go for why the deploytracker comes first). Every backup has
// both.
var backupStores = []string{"deploytracker", "certmgr"}

// webhooksName and webhooksFile are certmgr's webhook file in a backup.
// A backup taken before certbind copied it has none; its restore leaves
// the data directory's webhooks.db as it is.
const (
	webhooksName = "certmgr-webhooks"
	webhooksFile = "webhooks.db"
)

// backupFile is a file a backup copies: Name is its REST path
// (/v1/admin/backup/NAME) and its name in the manifest.
type backupFile struct {
	Name, File string
	// Optional marks a file an older suite does not serve.
	Optional bool
}

// backupCopyOrder is the order of the copies: the deploytracker first
// (see runBackup), then certmgr's webhook file, then certmgr.db, so that
// the webhook secrets are sealed under a key the later certmgr.db still
// names unless a whole master-key rotation ran in between (crossCheck
// finds that one).
var backupCopyOrder = []backupFile{
	{Name: "deploytracker", File: "deploytracker.db"},
	{Name: webhooksName, File: webhooksFile, Optional: true},
	{Name: "certmgr", File: "certmgr.db"},
}

// storeFile returns the manifest's entry for name.
func (m *backupManifest) storeFile(name string) (backupStore, bool) {
	for _, s := range m.Stores {
		if s.Name == name {
			return s, true
		}
	}
	return backupStore{}, false
}

func readManifest(dir string) (*backupManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, fmt.Errorf("read the backup's manifest: %w (is --from a directory written by \"certbind admin backup\"?)", err)
	}
	var m backupManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("the backup's manifest %s is not valid JSON (%v): the backup is damaged", filepath.Join(dir, manifestName), err)
	}
	if m.Format != backupFormat {
		return nil, fmt.Errorf("the backup's manifest has format %d; this certbind reads format %d", m.Format, backupFormat)
	}
	for _, want := range backupStores {
		found := false
		for _, s := range m.Stores {
			if s.Name == want && s.File == want+".db" {
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("the backup's manifest lists no %s.db: the backup is incomplete", want)
		}
	}
	seen := map[string]bool{}
	for _, s := range m.Stores {
		known := s.Name == webhooksName && s.File == webhooksFile
		for _, name := range backupStores {
			known = known || s.Name == name && s.File == name+".db"
		}
		if !known {
			return nil, fmt.Errorf("the backup's manifest lists an unknown store %q (file %q): it was written by another version of certbind, or altered", s.Name, s.File)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("the backup's manifest lists %s twice: it was altered", s.File)
		}
		seen[s.Name] = true
	}
	return &m, nil
}

// checkFile checks that the file at path has the size and SHA-256 the
// manifest gives.
func checkFile(path string, want backupStore) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup file %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("read backup file %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != want.Size || got != want.SHA256 {
		return fmt.Errorf("backup file %s is damaged: it has %d bytes with SHA-256 %s, the manifest says %d bytes with SHA-256 %s; restore from another backup", path, n, got, want.Size, want.SHA256)
	}
	return nil
}
