package serve

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorLine(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{errors.New("listen on :1: in use"), "error: certmgr: listen on :1: in use"},
		{fmt.Errorf("certmgr: %w", errors.New("open x.db: locked")), "error: certmgr: open x.db: locked"},
		// Only a leading name is dropped, once.
		{errors.New("certmgr: certmgr: twice"), "error: certmgr: certmgr: twice"},
		{errors.New("deploytracker: open: locked"), "error: certmgr: deploytracker: open: locked"},
		{errors.New("first line\nsecond  line\n"), "error: certmgr: first line second line"},
	}
	for _, tt := range tests {
		if got := ErrorLine("certmgr", tt.err); got != tt.want {
			t.Errorf("ErrorLine(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
