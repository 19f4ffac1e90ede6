package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxURLLen bounds a webhook URL.
const MaxURLLen = 2048

// URLRules say which URLs ParseURL accepts.
type URLRules struct {
	// AllowHTTPLoopback accepts http:// URLs whose host is a loopback
	// address or "localhost" (certbind dev). Otherwise only https is.
	AllowHTTPLoopback bool
}

// URLError is a webhook URL that is refused, and why.
type URLError struct {
	URL string
	Msg string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("webhook url %s is not accepted: %s", quoteShort(e.URL), e.Msg)
}

// ParseURL checks a webhook URL given by a tenant: an absolute https URL
// (or http to loopback when the rules allow it) with a host, without user
// information or fragment, at most MaxURLLen bytes of printable ASCII.
// Whether its host may be reached is the egress policy's question, asked
// on the address dialled; ParseURL only rejects what can never be right.
func ParseURL(raw string, rules URLRules) (*url.URL, error) {
	bad := func(format string, args ...any) (*url.URL, error) {
		return nil, &URLError{URL: raw, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case raw == "":
		return bad("it is empty (give an https:// URL)")
	case len(raw) > MaxURLLen:
		return bad("it is longer than %d bytes", MaxURLLen)
	case !utf8.ValidString(raw):
		return bad("it is not valid UTF-8")
	}
	for _, r := range raw {
		if r <= ' ' || r >= 0x7f {
			return bad("it holds a space, a control character or a non-ASCII character (percent-encode it)")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("%v", err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return bad("the scheme must be https")
	case u.Opaque != "" || u.Host == "":
		return bad("it has no host (write https://host/path)")
	case u.User != nil:
		return bad("it holds user information (user:password@); the signature authenticates certbind, so leave it out")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("it holds a fragment (#...), which is never sent")
	}
	host := u.Hostname()
	if host == "" {
		return bad("it has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 || p[0] == '0' {
			return bad("port %q is not a port number (1-65535)", p)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("it has an empty port")
	}
	if strings.Contains(host, "%") {
		return bad("an IPv6 zone is not accepted")
	}
	addr, isIP := parseIP(host)
	if !isIP {
		if err := checkHostName(host); err != nil {
			return bad("host %q %v", host, err)
		}
	}
	if u.Scheme == "http" {
		loop := host == "localhost" || (isIP && addr.IsLoopback())
		if !rules.AllowHTTPLoopback || !loop {
			if rules.AllowHTTPLoopback {
				return bad("the scheme must be https (http is allowed for loopback only)")
			}
			return bad("the scheme must be https")
		}
	}
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// parseIP reports whether host is an IP address, as a URL's host may
// write one ("[::1]" already bracket-stripped by Hostname).
func parseIP(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// checkHostName accepts DNS names of letters, digits, hyphens and dots, in
// labels of at most 63 bytes, and refuses what resolvers read as numbers
// (an all-numeric last label such as "2130706433" or "0x7f.1").
func checkHostName(host string) error {
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return errors.New("is not a host name")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return errors.New("has an empty or over-long label")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return fmt.Errorf("holds %q, which a host name may not", c)
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return errors.New("has a label that starts or ends with a hyphen")
		}
	}
	last := labels[len(labels)-1]
	if numeric(last) {
		return errors.New("reads as a number, which resolvers may take for an IP address (write the address in dotted form)")
	}
	return nil
}

// numeric reports whether a label is a decimal, octal or hex number.
func numeric(l string) bool {
	l = strings.ToLower(l)
	if strings.HasPrefix(l, "0x") {
		l = l[2:]
		if l == "" {
			return true
		}
		for i := 0; i < len(l); i++ {
			if !strings.ContainsRune("0123456789abcdef", rune(l[i])) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return strconv.Quote(s)
}
