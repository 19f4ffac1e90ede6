package gateway

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/certbind/certbind/internal/route"
	"github.com/certbind/certbind/internal/validate"
)

// Handler names what a route does with a request, spelled as the "export"
// of its handler block.
type Handler string

// The supported handlers. Their values are spelled as in the original
// product, so that its configs deploy unchanged.
const (
	// URLForwardHandler sends the request to baseUrl plus the request's
	// path.
	URLForwardHandler Handler = "UrlForwardHandler"
	// URLRewriteHandler sends the request to rewritePattern, with the
	// path parameters filled in.
	URLRewriteHandler Handler = "UrlRewriteHandler"
)

// Handler options.
const (
	optBaseURL         = "baseUrl"
	optRewritePattern  = "rewritePattern"
	optMTLSCertificate = "mtlsCertificate"
	optCACertificate   = "caCertificate"
)

// handlerTarget is the option that says where a handler sends requests.
// Each handler requires its own and takes the two certificate options
// besides.
var handlerTarget = map[Handler]string{
	URLForwardHandler: optBaseURL,
	URLRewriteHandler: optRewritePattern,
}

// targetExample shows a value for each target option in messages.
var targetExample = map[string]string{
	optBaseURL:        "https://backend.example.com",
	optRewritePattern: "https://backend.example.com/v2/users/${params.id}",
}

func (h Handler) options() []string {
	return []string{handlerTarget[h], optMTLSCertificate, optCACertificate}
}

// handlerKeys are the keys of a handler block. "module" is where the
// original product imported the handler from; it has no meaning here and is
// accepted so that such configs deploy unchanged.
var handlerKeys = []string{"export", "options", "module"}

// parseHandler checks the route's "handler" block and fills in the handler
// fields of r. params are the path's parameter names, which a rewrite
// pattern may use.
func (r *Route) parseHandler(raw json.RawMessage, params []string, vars map[string]string) *Error {
	obj, ok := decodeObject(raw)
	if !ok {
		return r.fieldErrorf("handler", `"handler" must be an object such as {"export": "UrlForwardHandler", "options": {...}}, not %s`, kindOf(raw))
	}
	if obj.dup != "" {
		return r.fieldErrorf("handler", "handler has the key %s twice (keep one)", validate.Quote(obj.dup))
	}
	if unknown := obj.unknown(handlerKeys...); len(unknown) > 0 {
		return r.fieldErrorf("handler", "handler has %s", unknownKeys(unknown, handlerKeys[:2], "a handler"))
	}
	h, e := r.parseExport(obj.fields)
	if e != nil {
		return e
	}
	r.Handler = h
	target := handlerTarget[h]
	rawOptions, ok := obj.fields["options"]
	if !ok {
		return r.fieldErrorf("handler.options", `handler has no "options" (%s needs at least %q, e.g. "options": {%q: %q})`,
			h, target, target, targetExample[target])
	}
	opts, ok := decodeObject(rawOptions)
	if !ok {
		return r.fieldErrorf("handler.options", `handler.options must be an object such as {%q: %q}, not %s`, target, targetExample[target], kindOf(rawOptions))
	}
	if opts.dup != "" {
		return r.optionErrorf(opts.dup, "is given twice (keep one)")
	}
	if unknown := opts.unknown(h.options()...); len(unknown) > 0 {
		return r.unknownOption(h, unknown[0])
	}
	if _, ok := opts.fields[target]; !ok {
		return r.optionErrorf(target, "is missing (%s needs it, e.g. %q: %q)", h, target, targetExample[target])
	}
	for _, name := range opts.keys {
		if e := r.setOption(name, opts.fields[name], params, vars); e != nil {
			return e
		}
	}
	return nil
}

// parseExport reads the handler's "export", suggesting the intended handler
// for near misses such as "urlForwardHandler".
func (r *Route) parseExport(fields map[string]json.RawMessage) (Handler, *Error) {
	const choice = `use "UrlForwardHandler" or "UrlRewriteHandler"`
	raw, ok := fields["export"]
	if !ok {
		return "", r.fieldErrorf("handler.export", `handler has no "export" (%s)`, choice)
	}
	s, ok := stringOf(raw)
	if !ok {
		return "", r.fieldErrorf("handler.export", "handler.export must be a string, not %s (%s)", kindOf(raw), choice)
	}
	if _, known := handlerTarget[Handler(s)]; known {
		return Handler(s), nil
	}
	msg := fmt.Sprintf("handler.export %s is not a supported handler (%s", validate.Quote(s), choice)
	if guess := suggest(s, string(URLForwardHandler), string(URLRewriteHandler)); guess != "" {
		msg += fmt.Sprintf("; did you mean %q?", guess)
	}
	return "", r.fieldErrorf("handler.export", "%s)", msg)
}

// unknownOption explains an option the handler does not take. The most
// common case is the other handler's target, so that gets its own advice.
func (r *Route) unknownOption(h Handler, name string) *Error {
	for other, target := range handlerTarget {
		if other != h && name == target {
			return r.optionErrorf(name, "%s has no such option; it takes %s (use %s for %s)",
				h, quotedList(h.options()), other, name)
		}
	}
	msg := fmt.Sprintf("%s has no such option; it takes %s", h, quotedList(h.options()))
	if guess := suggest(name, h.options()...); guess != "" {
		msg += fmt.Sprintf("; did you mean %q?", guess)
	}
	return r.optionErrorf(name, "%s", msg)
}

// setOption checks one handler option, resolves its $env references and
// stores the result in r.
func (r *Route) setOption(name string, raw json.RawMessage, params []string, vars map[string]string) *Error {
	s, ok := stringOf(raw)
	if !ok {
		return r.optionErrorf(name, "must be a string, not %s", kindOf(raw))
	}
	switch name {
	case optMTLSCertificate, optCACertificate:
		cert, e := r.certificateOption(name, s, vars)
		if e != nil {
			return e
		}
		if name == optMTLSCertificate {
			r.MTLSCertificate = cert
		} else {
			r.CACertificate = cert
		}
		return nil
	}
	v, err := expandEnv(s, vars)
	if err != nil {
		return r.optionErrorf(name, "%v", err)
	}
	if name == optBaseURL {
		err = route.CheckURL(v, false)
		r.BaseURL = v
	} else {
		err = route.CheckRewrite(v, params)
		r.RewritePattern = v
	}
	var problem string
	if err != nil {
		problem = err.Error()
	}
	if problem == "" {
		problem = egressProblem(v)
	}
	if problem == "" {
		return nil
	}
	// A URL with user info may carry a password, which must not end up
	// in a message that is printed and logged.
	shown := validate.Quote(v)
	if strings.Contains(v, "@") {
		shown = "the URL"
	}
	if v != s {
		shown += " (after $env substitution)"
	}
	return r.optionErrorf(name, "%s %s", shown, problem)
}

// certificateOption resolves and checks a certificate option. A reference
// to a variable must be the whole value: a name glued together from pieces
// would be hard to read in review, and certificate names are short anyway.
func (r *Route) certificateOption(option, s string, vars map[string]string) (string, *Error) {
	name, from := s, ""
	if strings.Contains(s, envOpen) {
		v, ok := wholeEnv(s)
		if !ok {
			if _, err := expandEnv(s, vars); err != nil {
				return "", r.optionErrorf(option, "%v", err)
			}
			return "", r.optionErrorf(option, `must be a certificate name or exactly one $env(NAME), such as "$env(BACKEND_MTLS_CERT)", not %s`, validate.Quote(s))
		}
		value, set := vars[v]
		if !set {
			return "", r.optionErrorf(option, "%v", unsetError(v))
		}
		name, from = value, v
	}
	// An empty value must not quietly mean "no certificate": the route
	// asked for one, and sending plain TLS instead is exactly what must
	// never happen.
	if name == "" {
		if from != "" {
			return "", r.optionErrorf(option, "variable %s is empty (set it to a certificate name, or remove the option to use no certificate)", from)
		}
		return "", r.optionErrorf(option, "is empty (give a certificate name, or remove the option to use no certificate)")
	}
	if err := validate.CertificateName(name); err != nil {
		if from != "" {
			return "", r.optionErrorf(option, "variable %s: %v", from, err)
		}
		return "", r.optionErrorf(option, "%v", err)
	}
	return name, nil
}
