//go:build !linux

package storebench

import "testing"

// countsWrites: outside Linux, processWritten cannot tell.
func countsWrites(*testing.T, string) bool { return false }
