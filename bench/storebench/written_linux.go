package storebench

import "os"

// processWritten returns how many bytes this process has sent to storage
// so far (write_bytes in /proc/self/io: what its writes put in the page
// cache for the disk, counted when written, not when synced).
func processWritten() (int64, bool) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	return parseWriteBytes(data)
}
