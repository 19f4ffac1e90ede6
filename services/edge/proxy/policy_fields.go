package proxy

import (
	"io"
	"net/http"
)

// Header hygiene: what of a client's header and trailer reaches a backend.
//
// Field names are compared as a backend may read them: in any case, and
// with "_" standing for "-" (CGI, and the many servers and frameworks that
// follow it, turn both into "_", so "X_Forwarded_For" is X-Forwarded-For
// to them). Go keeps such a name apart ("X_forwarded_for"), so exact
// comparison would let it through.
//
// The edge drops, from a client's header:
//
//   - hop-by-hop fields (see hopByHop) and those that frame the message or
//     name its target (Content-Length, Transfer-Encoding, Trailer, Host),
//     which the upstream writes itself;
//   - forwarding fields: every field whose meaning is "a proxy before you
//     saw this" — the client's address, the host, scheme, port, path or
//     prefix it used — or that asks the backend to take another URL or
//     method than the one it is sent. Backends and frameworks trust these
//     from a proxy in front of them, so only the edge may set them. They are Forwarded,
//     every X-Forwarded-* (and X-Forwarded itself), and those listed in
//     forwardingFields.
//
// The edge sets X-Forwarded-For, X-Forwarded-Host and X-Forwarded-Proto
// itself, and appends its own entry to the client's Via (see policy_hop.go).

// forwardingFields are the forwarding fields other than Forwarded and
// X-Forwarded-*, in lower case, by what they claim.
var forwardingFields = []string{
	// The client's address, as various proxies and CDNs name it.
	"x-real-ip", "x-client-ip", "client-ip", "true-client-ip",
	"x-original-forwarded-for", "cf-connecting-ip", "cf-connecting-ipv6",
	"fastly-client-ip", "x-cluster-client-ip", "x-originating-ip",
	"x-remote-ip", "x-remote-addr", "x-proxyuser-ip",
	// The host, scheme and URL the client used.
	"x-original-host", "x-host", "x-url-scheme", "x-scheme", "front-end-https",
	"x-original-url", "x-original-uri", "x-rewrite-url",
	// The method: frameworks that honour these serve another method than
	// the one the route's methods allowed.
	"x-http-method-override", "x-http-method", "x-method-override",
}

// messageFields are the fields that frame a message or name its target,
// in lower case: the edge writes its own.
var messageFields = []string{"host", "content-length", "transfer-encoding", "trailer"}

// hopByHopFields are the names hopByHop knows, in lower case.
var hopByHopFields = []string{
	"connection", "proxy-connection", "keep-alive", "proxy-authenticate",
	"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
}

// trailerProhibited are the fields RFC 9110 (section 6.5.1) does not allow
// in a trailer, beyond those the header drops, in lower case: they
// control how the message is routed, handled, authenticated, cached or
// decoded, which a recipient decides on before the content, so one that
// came after it would either be ignored or change what was already
// decided.
var trailerProhibited = []string{
	// Request modifiers: controls and preconditions.
	"cache-control", "expect", "max-forwards", "pragma", "range", "te",
	"if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
	// Authentication and state.
	"authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate",
	"authentication-info", "proxy-authentication-info", "cookie", "set-cookie",
	// How to process the content.
	"content-encoding", "content-type", "content-range", "content-length",
	// Response control data, and routing.
	"age", "date", "expires", "location", "retry-after", "vary", "warning", "via",
}

// fieldSet is a set of field names matched as a backend may read them:
// in any case, "_" for "-". Names are kept by their first letter, so that
// a name is compared with the few of the same letter and length.
type fieldSet struct {
	byLetter [26][]string
	// xForwarded: every name that begins with "x-forwarded" is in the set.
	xForwarded bool
}

func newFieldSet(xForwarded bool, lists ...[]string) *fieldSet {
	s := &fieldSet{xForwarded: xForwarded}
	for _, l := range lists {
		for _, name := range l {
			s.byLetter[name[0]-'a'] = append(s.byLetter[name[0]-'a'], name)
		}
	}
	return s
}

// has reports whether name is in s. It allocates nothing.
func (s *fieldSet) has(name string) bool {
	if name == "" {
		return false
	}
	c := foldByte(name[0])
	if c < 'a' || c > 'z' {
		return false
	}
	if c == 'x' && s.xForwarded && len(name) >= len("x-forwarded") && foldEqual(name[:len("x-forwarded")], "x-forwarded") {
		return true
	}
	for _, n := range s.byLetter[c-'a'] {
		if len(n) == len(name) && foldEqual(name, n) {
			return true
		}
	}
	return false
}

// foldByte is c in lower case, with "_" as "-".
func foldByte(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c + 'a' - 'A'
	case c == '_':
		return '-'
	}
	return c
}

// foldEqual reports whether name, folded, is lower, which is folded and of
// the same length.
func foldEqual(name, lower string) bool {
	for i := 0; i < len(lower); i++ {
		if foldByte(name[i]) != lower[i] {
			return false
		}
	}
	return true
}

var (
	// requestDropped is what the edge drops from a client's header.
	requestDropped = newFieldSet(true, forwardingFields, []string{"forwarded"}, messageFields, hopByHopFields)
	// trailerDropped is what the edge drops from a client's trailer.
	trailerDropped = newFieldSet(true, forwardingFields, []string{"forwarded"}, messageFields, hopByHopFields, trailerProhibited)
)

// sendTrailer returns the body and trailer to send for a chunked request
// whose client announced trailers: the announced fields the edge passes
// on, filled in when the client's body ends. Announced fields that are
// not passed on, and fields the client sends without announcing them, are
// dropped.
func sendTrailer(r *http.Request) (io.Reader, http.Header) {
	var pass http.Header
	for name := range r.Trailer {
		if trailerDropped.has(name) {
			continue
		}
		if pass == nil {
			pass = make(http.Header, len(r.Trailer))
		}
		pass[name] = nil
	}
	if pass == nil {
		return r.Body, nil
	}
	return &trailerBody{r: r, pass: pass}, pass
}

// trailerBody reads a request's body and, at its end, copies the values
// of the trailer fields to pass from the request's trailer, which the
// server fills in only then.
type trailerBody struct {
	r    *http.Request
	pass http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Body.Read(p)
	if err == io.EOF {
		for name := range b.pass {
			b.pass[name] = b.r.Trailer[name]
		}
	}
	return n, err
}
