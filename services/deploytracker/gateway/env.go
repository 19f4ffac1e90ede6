package gateway

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/certbind/certbind/internal/route"
	"github.com/certbind/certbind/internal/validate"
)

// Limits on deployment variables. MaxVariables also bounds an env file.
const (
	MaxVariables   = 200
	maxValueLen    = 4 << 10 // bytes in a variable value
	maxExpandedLen = 8 << 10 // bytes in an option after $env substitution
)

// checkIdentifier checks a variable or path parameter name: a letter or _
// followed by letters, digits and _, like a shell variable. Errors continue
// a sentence that has named the thing, such as "variable name X ...". Both
// follow the rule of the route language's parameters.
func checkIdentifier(name string) error { return route.CheckName(name) }

// checkVariable checks one variable, name and value. Values are stored with
// the deployment and sent over gRPC, which needs valid UTF-8, and a NUL
// would cut the value short in any C-based consumer down the line.
func checkVariable(name, value string) error {
	if err := checkIdentifier(name); err != nil {
		return fmt.Errorf("variable name %s %v", validate.Quote(name), err)
	}
	switch {
	case len(value) > maxValueLen:
		return fmt.Errorf("variable %s is %d bytes long, over the limit of %d", name, len(value), maxValueLen)
	case strings.IndexByte(value, 0) >= 0:
		return fmt.Errorf("variable %s contains a NUL byte, which is not allowed", name)
	case !utf8.ValidString(value):
		return fmt.Errorf("variable %s is not valid UTF-8 (save the value as UTF-8)", name)
	}
	return nil
}

// ValidateVariables checks a deployment's variables: at most MaxVariables,
// names like shell variables ([A-Za-z_][A-Za-z0-9_]*, up to 128
// characters) and values of up to 4 KiB of UTF-8 without NUL. Names are
// checked in sorted order, so the same input always reports the same error.
func ValidateVariables(vars map[string]string) error {
	if len(vars) > MaxVariables {
		return errorf("%d variables given, over the limit of %d", len(vars), MaxVariables)
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if err := checkVariable(name, vars[name]); err != nil {
			return errorf("%v", err)
		}
	}
	return nil
}

// ParseVar parses the value of one --var flag, NAME=VALUE. The value is
// everything after the first "=" and may be empty or contain "=".
func ParseVar(s string) (key, value string, err error) {
	key, value, ok := strings.Cut(s, "=")
	if !ok {
		return "", "", errorf(`--var %s has no "=" (write --var NAME=VALUE)`, validate.Quote(s))
	}
	if err := checkVariable(key, value); err != nil {
		return "", "", errorf("--var: %v", err)
	}
	return key, value, nil
}

// envOpen starts a variable reference in a handler option.
const envOpen = "$env("

// expandEnv replaces every $env(NAME) in s with the value of variable NAME.
// Values are inserted as they are and never scanned again, so a value that
// happens to contain "$env(" cannot pull in another variable. Errors
// continue a sentence that has named the option.
func expandEnv(s string, vars map[string]string) (string, error) {
	if !strings.Contains(s, envOpen) {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, envOpen)
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		rest := s[i+len(envOpen):]
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return "", errors.New(`has "$env(" without a closing ")" (write $env(NAME))`)
		}
		name := rest[:end]
		if err := checkIdentifier(name); err != nil {
			return "", fmt.Errorf("has %s, whose variable name %v", validate.Quote(envOpen+name+")"), err)
		}
		value, ok := vars[name]
		if !ok {
			return "", unsetError(name)
		}
		// A config can repeat a reference thousands of times; the bound
		// keeps the expanded text from growing far beyond the input.
		if b.Len()+len(value) > maxExpandedLen {
			return "", fmt.Errorf("is over %d bytes long after $env substitution", maxExpandedLen)
		}
		b.WriteString(value)
		s = rest[end+1:]
	}
	return b.String(), nil
}

// wholeEnv reports whether s is exactly one $env(NAME) reference, and NAME.
func wholeEnv(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, envOpen)
	if !ok || !strings.HasSuffix(rest, ")") {
		return "", false
	}
	name := rest[:len(rest)-1]
	return name, checkIdentifier(name) == nil
}

// unsetError says how to provide a variable that a config refers to.
func unsetError(name string) error {
	return fmt.Errorf("variable %s is not set (pass --var %s=... to certbind deploy, or put it in the --env-file)", name, name)
}
