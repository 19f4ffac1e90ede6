package storebench

import (
	"bytes"
	"strconv"
)

// parseWriteBytes finds the write_bytes line in the text of /proc/self/io.
func parseWriteBytes(data []byte) (int64, bool) {
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte("write_bytes:"))
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
		return n, err == nil && n >= 0
	}
	return 0, false
}
