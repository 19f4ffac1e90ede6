package certmgr_test

import (
	"os"
	"testing"

	"github.com/certbind/certbind/internal/testetcd"
)

// TestMain stops the embedded etcd member the tests on etcd start.
func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }
