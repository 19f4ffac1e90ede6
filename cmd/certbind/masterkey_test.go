package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestDevMasterKeyMissing uploads a certificate through the real `certbind
// dev`, deletes master.key and starts again: dev must refuse with one error
// line naming the file, and must not create a new key over the data.
func TestDevMasterKeyMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildCLI(t)
	data := devWithCertificate(t, bin, "sealed")
	masterKey := filepath.Join(data, "master.key")
	if err := os.Remove(masterKey); err != nil {
		t.Fatal(err)
	}
	devFails(t, bin, data, nil, "master.key")
	if _, err := os.Stat(masterKey); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("dev wrote a new master.key over existing data (stat: %v)", err)
	}
}
