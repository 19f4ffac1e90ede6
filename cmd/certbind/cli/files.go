package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"unicode/utf8"
)

// maxInputFile bounds every file the CLI uploads. Certificate chains, keys
// and PKCS#12 bundles are a few KiB; anything near this size was given by
// mistake, and the server would refuse it anyway.
const maxInputFile = 1 << 20

// checkInputFile reports a missing, unreadable, non-regular or oversized
// file before anything is read or sent. flag names the flag the path came from.
func checkInputFile(flag, path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("--%s: file %q not found", flag, path)
	case err != nil:
		return fmt.Errorf("--%s: %w", flag, err)
	case info.IsDir():
		return fmt.Errorf("--%s: %q is a directory, not a file", flag, path)
	case info.Size() > maxInputFile:
		return fmt.Errorf("--%s: file %q is %d bytes, over the 1 MiB limit (is it the right file?)", flag, path, info.Size())
	}
	return nil
}

// readInputFile reads a file checked by checkInputFile. It stops at the
// limit, in case the file grew since or is a pipe whose size is unknown.
func readInputFile(flag, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInputFile+1))
	if err != nil {
		return nil, fmt.Errorf("--%s: read %q: %w", flag, path, err)
	}
	if len(data) > maxInputFile {
		return nil, fmt.Errorf("--%s: file %q is over the 1 MiB limit (is it the right file?)", flag, path)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("--%s: file %q is empty", flag, path)
	}
	return data, nil
}

// pemText returns a PEM file's text. A binary file cannot be PEM; the usual
// one is DER (or a PKCS#12 bundle), so say how to convert it rather than
// letting the upload fail on encoding.
func pemText(f inputFile, data []byte) (string, error) {
	if utf8.Valid(data) && data[0] != 0x30 {
		return string(data), nil
	}
	convert := fmt.Sprintf("openssl x509 -inform der -in %s -out cert.pem", f.path)
	if f.flag == "key" {
		convert = fmt.Sprintf("openssl pkey -inform der -in %s -out key.pem", f.path)
	}
	return "", fmt.Errorf("--%s: %q is binary, not PEM: it looks like DER. Convert it with `%s` (a PKCS#12 bundle goes in --p12 instead)", f.flag, f.path, convert)
}
