package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/certbind/certbind/internal/validate"
)

// Limits on a gateway config. They are far above what a real config needs
// and keep one deploy request from costing the service much memory or time.
const (
	MaxConfigBytes = 256 << 10
	MaxRoutes      = 500
)

// Config is a parsed and validated gateway config, with every $env(NAME)
// already replaced by the variable's value.
type Config struct {
	Routes []Route
}

// utf8BOM is skipped at the start of a config: some Windows editors write
// it, and it is no mistake worth failing a deploy for.
var utf8BOM = []byte("\xef\xbb\xbf")

// Parse parses and validates gateway.json, resolving $env(NAME) in handler
// options from vars. It stops at the first problem and returns it as an
// *Error. Certificate names are checked for form only; whether they exist
// and may be used is for the caller to find out, from CertificateRefs.
// vars are used as given; check them with ValidateVariables first.
func Parse(data []byte, vars map[string]string) (*Config, error) {
	if len(data) > MaxConfigBytes {
		return nil, errorf("gateway config is %d bytes, over the limit of %d KiB (split the routes over several deployments)",
			len(data), MaxConfigBytes>>10)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errorf(`gateway config is empty (it needs {"routes": [...]} with at least one route)`)
	}
	if !utf8.Valid(data) {
		line, col := position(data, invalidUTF8(data))
		return nil, errorf("gateway config is not valid UTF-8: line %d, column %d (save the file as UTF-8)", line, col)
	}
	if err := json.Unmarshal(data, new(json.RawMessage)); err != nil {
		return nil, syntaxError(data, err)
	}
	items, e := routeList(data)
	if e != nil {
		return nil, e
	}
	cfg := &Config{Routes: make([]Route, 0, len(items))}
	keys := make([]string, 0, len(items))
	for i, item := range items {
		r, key, e := parseRoute(i, item, vars)
		if e != nil {
			return nil, e
		}
		cfg.Routes = append(cfg.Routes, r)
		keys = append(keys, key)
	}
	if e := checkDuplicates(cfg.Routes, keys); e != nil {
		return nil, e
	}
	return cfg, nil
}

// routeList checks the top level of a config, valid JSON by now, and
// returns its routes still undecoded.
func routeList(data []byte) ([]json.RawMessage, *Error) {
	top, ok := decodeObject(data)
	if !ok {
		return nil, errorf(`gateway config must be a JSON object such as {"routes": [...]}, not %s`, kindOf(data))
	}
	if top.dup != "" {
		return nil, errorf("gateway config has the key %s twice (keep one)", validate.Quote(top.dup))
	}
	// Unknown keys are refused rather than ignored, so that a typo such as
	// "route" is reported instead of silently deploying nothing.
	if unknown := top.unknown("routes"); len(unknown) > 0 {
		return nil, errorf("gateway config has %s", unknownKeys(unknown, []string{"routes"}, "the top level"))
	}
	raw, ok := top.fields["routes"]
	if !ok {
		return nil, errorf(`gateway config has no "routes" (add "routes": [...] with at least one route)`)
	}
	items, ok := arrayOf(raw)
	switch {
	case !ok:
		return nil, errorf(`gateway config "routes" must be an array of routes, not %s`, kindOf(raw))
	case len(items) == 0:
		return nil, errorf(`gateway config "routes" is empty (add at least one route)`)
	case len(items) > MaxRoutes:
		return nil, errorf(`gateway config has %d routes, over the limit of %d (split them over several deployments)`, len(items), MaxRoutes)
	}
	return items, nil
}

// syntaxError turns an encoding/json error into a message with a line and
// column, which is what an editor can jump to; a byte offset is not.
func syntaxError(data []byte, err error) *Error {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return errorf("gateway config is not valid JSON: %v", err)
	}
	// Offset counts the bytes read, including the offending one; at the
	// end of the input there is no offending byte and it points past it.
	off := int(se.Offset)
	if off > 0 && off <= len(data) && se.Error() != "unexpected end of JSON input" {
		off--
	}
	line, col := position(data, off)
	return errorf("gateway config is not valid JSON: line %d, column %d: %s", line, col, se.Error())
}

// position converts a byte offset into data to a 1-based line and column,
// counting columns in characters.
func position(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return bytes.Count(data[:start], []byte{'\n'}) + 1, utf8.RuneCount(data[start:off]) + 1
}

// invalidUTF8 returns the offset of the first byte of data that is not part
// of valid UTF-8, or len(data).
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(data)
}
