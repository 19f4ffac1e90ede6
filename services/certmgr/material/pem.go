package material

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"strings"
	"unicode/utf8"
)

// file names an uploaded PEM file in messages.
type file struct {
	field string // Field of its errors
	name  string // "certificate file", "key file", "CA file"
}

var (
	certFile = file{field: FieldCertificate, name: "certificate file"}
	keyFile  = file{field: FieldKey, name: "key file"}
	caFile   = file{field: FieldCertificate, name: "CA file"}
)

// block is one PEM block and the line its BEGIN line is on, so messages can
// point into the file without quoting it.
type block struct {
	*pem.Block
	line int
}

var (
	beginMarker = []byte("-----BEGIN ")
	utf8BOM     = []byte("\xef\xbb\xbf")
)

// splitPEM returns the PEM blocks of data and rejects anything else in the
// file. encoding/pem alone would skip text around blocks and even a damaged
// block, silently dropping what the user meant to upload; here text outside
// blocks and damaged blocks are errors that give the line.
//
// The caller has checked that data is not empty and has handled DER input.
func splitPEM(data []byte, f file) ([]block, error) {
	// Editors on Windows like to start a text file with a byte order mark.
	data = bytes.TrimPrefix(data, utf8BOM)
	var blocks []block
	rest := data
	for {
		trimmed := bytes.TrimLeft(rest, " \t\r\n")
		if len(trimmed) == 0 {
			return blocks, nil
		}
		line := lineAt(data, len(data)-len(trimmed))
		if !bytes.HasPrefix(trimmed, beginMarker) {
			return nil, strayText(trimmed, line, len(blocks), f)
		}
		p, next := pem.Decode(trimmed)
		// pem.Decode skips a damaged block and returns the next good one, so
		// a block is only the one we are looking at if no other BEGIN line
		// was consumed with it.
		consumed := trimmed[:len(trimmed)-len(next)]
		if p == nil || bytes.Count(consumed, beginMarker) != 1 {
			return nil, errorf(f.field, "the %s has a damaged PEM block at line %d (%s): its END line is missing or its base64 body is corrupt; copy the file again in full, for example without a mail client or terminal wrapping it", f.name, line, beginLabel(trimmed))
		}
		blocks = append(blocks, block{Block: p, line: line})
		rest = next
	}
}

// strayText reports text outside PEM blocks without echoing it: it may be a
// piece of a key whose BEGIN line was lost.
func strayText(text []byte, line, blocksBefore int, f file) error {
	where := "before the first PEM block"
	if blocksBefore > 0 {
		where = fmt.Sprintf("after PEM block %d", blocksBefore)
	}
	hint := ""
	if bytes.HasPrefix(text, []byte("Bag Attributes")) || bytes.HasPrefix(text, []byte("subject=")) || bytes.HasPrefix(text, []byte("issuer=")) || bytes.HasPrefix(text, []byte("Key Attributes")) {
		hint = " (the \"Bag Attributes\", \"subject=\" and \"issuer=\" lines that `openssl pkcs12` prints can simply be deleted)"
	}
	return errorf(f.field, "the %s has text outside PEM blocks at line %d, %s; a PEM file may hold only -----BEGIN ...----- to -----END ...----- blocks, so delete that text%s", f.name, line, where, hint)
}

// lineAt returns the 1-based line number of byte offset off in data.
func lineAt(data []byte, off int) int {
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// beginLabel describes the BEGIN line at the start of text, for a block too
// damaged to decode.
func beginLabel(text []byte) string {
	first, _, _ := bytes.Cut(text, []byte("\n"))
	label := strings.TrimPrefix(strings.TrimSpace(string(first)), string(beginMarker))
	label, ok := strings.CutSuffix(label, "-----")
	if !ok {
		return "its BEGIN line is malformed"
	}
	return blockType(label)
}

// maxLabel is longer than any PEM type in use ("ENCRYPTED PRIVATE KEY" is 21).
const maxLabel = 40

// blockType names a PEM type for a message, as `type "X"`. A type is echoed
// only if it looks like one: upper-case words of bounded length. Anything
// else may be key material, for instance when a key lost its line breaks and
// its body ended up on the BEGIN line, so it is not repeated.
func blockType(typ string) string {
	ok := typ != "" && len(typ) <= maxLabel
	for _, c := range typ {
		ok = ok && (c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ')
	}
	if !ok {
		return "a malformed type"
	}
	return fmt.Sprintf("type %q", typ)
}

// looksBinary reports whether data is binary rather than text: a DER
// certificate, key or PKCS#12 file (they all start with a SEQUENCE tag,
// 0x30) or anything else that is not a PEM file.
func looksBinary(data []byte) bool {
	if !utf8.Valid(data) {
		return true
	}
	for _, c := range data {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return true
		}
	}
	return false
}

// hasPEM reports whether data contains a BEGIN line at all.
func hasPEM(data []byte) bool { return bytes.Contains(data, beginMarker) }

// isPrivateKeyType reports whether a PEM type names a private key in any of
// the encodings tools write.
func isPrivateKeyType(typ string) bool {
	return strings.HasSuffix(typ, "PRIVATE KEY")
}

// otherBlock explains a PEM block that is neither a certificate nor a
// private key, for files that take certificates.
func otherBlock(b block, f file) error {
	switch b.Type {
	case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
		return errorf(f.field, "the %s holds a certificate signing request (CSR) at line %d, not a certificate; send the CSR to your CA and upload the certificate it issues", f.name, b.line)
	case "PKCS7":
		return errorf(f.field, "the %s holds a PKCS#7 bundle at line %d; extract its certificates with `openssl pkcs7 -print_certs -in bundle.p7b -out cert.pem` and upload that", f.name, b.line)
	case "TRUSTED CERTIFICATE":
		return errorf(f.field, "the %s holds an OpenSSL TRUSTED CERTIFICATE at line %d; convert it with `openssl x509 -in cert.pem -out plain.pem` and upload that", f.name, b.line)
	}
	return errorf(f.field, "the %s holds a PEM block of %s at line %d; only CERTIFICATE blocks are allowed, so remove it", f.name, blockType(b.Type), b.line)
}
