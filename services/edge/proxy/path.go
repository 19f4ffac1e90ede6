package proxy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// The path policy.
//
// A backend may decode and normalize the path it is sent: "%2e%2e" is
// "..", "%2F" and "%5C" are separators, "\" is one on Windows, and some
// servers (Tomcat, Jetty) read "..;x" as "..". A path the edge matched as
// "/api/..%2Fadmin" would then be "/admin" to the backend: outside the
// route's baseUrl prefix, where no route sent it. So the edge does not
// forward a path a backend could read as leaving the prefix. Each segment
// of the request path (the text between two "/"), once %-decoded, must
//
//   - not be a dot segment: "." or "..", or any segment made only of dots
//     ("..."), also when followed by spaces or by ";" and parameters
//     ("..;", ".;x=1");
//   - hold no separator: no "/" (sent as %2F) and no "\" (sent raw or as
//     %5C), nor the fullwidth forms of ".", "/" and "\" (U+FF0E, U+FF0F,
//     U+FF3C) that Unicode compatibility normalization turns into them;
//   - hold no control character (%00 to %1F, %7F);
//   - be valid UTF-8, which refuses overlong forms such as %C0%AE for ".";
//   - and meet all of the above once more if it still holds a "%" after
//     decoding, for a backend that decodes twice ("%252e%252e").
//
// Config.AllowEncodedSlashes lets a segment hold "/" (as %2F), for APIs
// whose identifiers hold one; each part between those "/" must then meet
// the rules above, so that no dot segment comes out of the decoding.
// Everything else is allowed, %-escaped or not, including empty segments.
// A path that meets the policy, decoded and normalized by any of those
// rules, stays below the route's prefix.

// errPathNotAllowed is wrapped by every error of the path policy.
var errPathNotAllowed = errors.New("the path is not allowed")

// pathRule is the rule of the policy that a segment breaks.
type pathRule string

const (
	ruleDotSegment   pathRule = `it is a dot segment (".", "..", or only dots, alone or before ";")`
	ruleEncodedSlash pathRule = `it holds an encoded "/" (%2F)`
	ruleBackslash    pathRule = `it holds a "\" (raw or as %5C)`
	ruleFullwidth    pathRule = `it holds a fullwidth ".", "/" or "\" (U+FF0E, U+FF0F, U+FF3C)`
	ruleControl      pathRule = "it holds a control character (%00-%1F or %7F)"
	ruleUTF8         pathRule = "it is not valid UTF-8 once decoded"
)

// pathError is a segment the path policy refuses, and why.
type pathError struct {
	segment string // as sent, %-escaped
	rule    pathRule
	// twice: the rule is broken once the segment is decoded twice.
	twice bool
	// rewritten: the segment is of the path a rewritePattern made.
	rewritten bool
}

func (e *pathError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the path segment %q is not allowed: %s", e.segment, e.rule)
	if e.twice {
		b.WriteString(" once decoded a second time")
	}
	if e.rewritten {
		b.WriteString(", in the backend's path as the route's rewritePattern makes it from the request's")
	}
	return b.String()
}

func (e *pathError) Unwrap() error { return errPathNotAllowed }

// pathAllowed says, in an answer, what the path policy allows.
const pathAllowed = `the edge forwards a path only if no segment, %-decoded, is a dot segment ("." or "..", or only dots, also before ";" as in "..;"), ` +
	`or holds "/" (%2F), "\" (raw or %5C), a control character (%00-%1F, %7F) or invalid UTF-8; ` +
	`send the path the backend should see, with no encoded separators or dot segments`

// checkSegment applies the path policy to one segment: escaped as sent,
// decoded as url.PathUnescape gives it. It allocates only for a decoded
// segment that still holds a "%".
func checkSegment(escaped, decoded string, allowSlash bool) error {
	rule := segmentRule(decoded, allowSlash)
	if rule == "" && strings.IndexByte(decoded, '%') >= 0 {
		if twice, err := url.PathUnescape(decoded); err == nil {
			if rule = segmentRule(twice, allowSlash); rule != "" {
				return &pathError{segment: escaped, rule: rule, twice: true}
			}
		}
	}
	if rule != "" {
		return &pathError{segment: escaped, rule: rule}
	}
	return nil
}

// segmentRule returns the rule a decoded segment breaks, or "". With
// allowSlash, a "/" is allowed and each part it separates is checked.
func segmentRule(v string, allowSlash bool) pathRule {
	ascii := true
	start := 0 // of the part being checked, after the last "/"
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '/':
			if !allowSlash {
				return ruleEncodedSlash
			}
			if isDotLike(v[start:i]) {
				return ruleDotSegment
			}
			start = i + 1
		case c == '\\':
			return ruleBackslash
		case c < 0x20 || c == 0x7f:
			return ruleControl
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if isDotLike(v[start:]) {
		return ruleDotSegment
	}
	if !ascii {
		if !utf8.ValidString(v) {
			return ruleUTF8
		}
		if strings.ContainsAny(v, "\uff0e\uff0f\uff3c") {
			return ruleFullwidth
		}
	}
	return ""
}

// isDotLike reports whether a decoded segment is one a backend may take
// for "." or "..": made only of dots, and perhaps spaces after them, before
// any ";" (Windows drops trailing dots and spaces; Tomcat drops ";...").
func isDotLike(s string) bool {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, " ")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '.' {
			return false
		}
	}
	return true
}

// checkRewrittenPath applies the path policy to the escaped path of a
// rewritten URL, whose segments may be made of parameter values and the
// pattern's text together: ".${params.id}" with an id of ";x" is ".;x".
// A "/" inside a segment is allowed (a parameter may hold one when
// AllowEncodedSlashes is set); dot segments still are not.
func checkRewrittenPath(escaped string) error {
	for seg := range strings.SplitSeq(escaped, "/") {
		v, err := url.PathUnescape(seg)
		if err != nil {
			continue // the pattern's own escapes: not the client's doing
		}
		if err := checkSegment(seg, v, true); err != nil {
			err.(*pathError).rewritten = true
			return err
		}
	}
	return nil
}
