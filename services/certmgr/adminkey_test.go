package certmgr_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/certbind/certbind/services/certmgr"
)

// TestNewRefusesShortAdminKey starts certmgr itself: the rule must hold
// wherever the key comes from (CERTBIND_ADMIN_KEY, `certbind dev`'s
// CERTBIND_API_KEY, a test).
func TestNewRefusesShortAdminKey(t *testing.T) {
	dir := t.TempDir()
	svc, err := certmgr.New(certmgr.Config{DataDir: dir, MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true, AdminKey: "x"})
	if err == nil {
		svc.Close()
		t.Fatal("certmgr.New accepted a one-character admin key")
	}
	if !strings.Contains(err.Error(), "the admin key is 1 character long") {
		t.Fatalf("certmgr.New: %v, want the admin key's length named", err)
	}
}
