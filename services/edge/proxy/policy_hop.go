package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// Loop detection.
//
// Every request an edge sends to a backend carries a Via entry naming the
// edge, "1.1 certbind-ID" (RFC 9110, section 7.6.3), after whatever Via
// entries the client sent; a request that arrives with this edge's entry
// has been round already and is answered 508 before anything else is
// done. A route whose baseUrl reaches the edge itself, or reaches it again
// through other edges or proxies, is stopped after one hop instead of
// going round until something gives out.
//
// Via rather than a field of the edge's own: it is what a proxy must send
// anyway, and other proxies on the way keep it and append their own
// entries instead of dropping it, so the edge's entry survives a loop
// that passes through them. A client cannot hide a true loop by leaving
// the field out or sending a false one: the entry is added by the edge on
// the way out. All a client can do is send this edge's entry itself, which
// only has its own request refused.

// hopPrefix begins the pseudonym with which an edge names itself in Via.
const hopPrefix = "certbind-"

// hop is how one edge marks and recognises the requests it sent.
type hop struct {
	name string // the pseudonym: "certbind-ID"
	via  string // the edge's entry for a request received over HTTP/1.1
}

// newHop returns the hop marker of an edge: named by id, or by a random id
// when id is "".
func newHop(id string) (hop, error) {
	if id == "" {
		var b [8]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return hop{}, fmt.Errorf("proxy: Config.HopID %q is not allowed in a Via field (use letters, digits, '-', '.' or '_', e.g. %q)", id, "edge-eu-1")
		}
	}
	name := hopPrefix + id
	return hop{name: name, via: "1.1 " + name}, nil
}

// entry returns the Via entry the edge adds to r on its way to a backend:
// the protocol r came in with, and the edge's name. For HTTP/1.1, nearly
// every request, it allocates nothing.
func (h hop) entry(r *http.Request) string {
	if r.ProtoMajor == 1 && r.ProtoMinor == 1 {
		return h.via
	}
	if r.ProtoMinor == 0 && r.ProtoMajor > 1 {
		return fmt.Sprintf("%d %s", r.ProtoMajor, h.name)
	}
	return fmt.Sprintf("%d.%d %s", r.ProtoMajor, r.ProtoMinor, h.name)
}

// seen reports whether the Via field of header has an entry of this edge:
// one whose received-by is its name. A name that merely contains it
// ("certbind-ID2") is not it. It allocates nothing.
func (h hop) seen(header http.Header) bool {
	for _, v := range header["Via"] {
		if viaHasReceiver(v, h.name) {
			return true
		}
	}
	return false
}

// viaHasReceiver reports whether a Via field line has an entry whose
// received-by is name. Each entry is "[protocol/]version received-by
// [comment]", entries separated by commas; name stands as the second word
// of an entry: after whitespace that follows the version, and before
// whitespace, a comma or the end.
func viaHasReceiver(v, name string) bool {
	for {
		i := strings.Index(v, name)
		if i < 0 {
			return false
		}
		end := i + len(name)
		if i > 0 && isViaSpace(v[i-1]) && (end == len(v) || isViaSpace(v[end]) || v[end] == ',') && secondWord(v[:i]) {
			return true
		}
		v = v[end:]
	}
}

// secondWord reports whether what follows before, in a Via line, is the
// second word of an entry: the entry it ends in, from the last comma, is
// one word (the protocol) and the whitespace after it.
func secondWord(before string) bool {
	entry := strings.TrimSpace(before[strings.LastIndexByte(before, ',')+1:])
	return entry != "" && !strings.ContainsAny(entry, " \t")
}

func isViaSpace(c byte) bool { return c == ' ' || c == '\t' }

// CheckHopID returns the error New would panic with for Config.HopID id,
// so that a caller taking it from a flag can say what is wrong instead.
func CheckHopID(id string) error {
	_, err := newHop(id)
	return err
}
