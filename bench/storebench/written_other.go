//go:build !linux

package storebench

// processWritten cannot tell outside Linux.
func processWritten() (int64, bool) { return 0, false }
