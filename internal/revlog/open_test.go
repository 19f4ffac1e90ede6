package revlog

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenChecksSchemaAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	log := Log{Log: []byte("log"), Meta: []byte("meta"), Retention: 10}
	db, err := Open(path, "tester", time.Second, 1, log, []byte("things"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, "tester", 50*time.Millisecond, 1, log); err == nil || !strings.Contains(err.Error(), "another tester") {
		t.Fatalf("second open of a held file: %v", err)
	}
	db.Close()
	if _, err := Open(path, "tester", time.Second, 2, log); err == nil || !strings.Contains(err.Error(), "schema version 1") {
		t.Fatalf("open with another schema: %v", err)
	}
	db, err = Open(path, "tester", time.Second, 1, log)
	if err != nil {
		t.Fatalf("reopen with the same schema: %v", err)
	}
	db.Close()
}
