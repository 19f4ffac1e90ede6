package certmgr_test

import (
	"os"
	"testing"

	"github.com/certbind/certbind/internal/testetcd"
)

// TestMain stops the embedded etcd member the tests of certmgr on etcd
// start (one per test binary, a prefix per test).
func TestMain(m *testing.M) { os.Exit(testetcd.Main(m)) }
