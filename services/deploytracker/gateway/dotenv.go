package gateway

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/certbind/certbind/internal/validate"
)

// MaxEnvFileBytes bounds the env file given to certbind deploy --env-file.
const MaxEnvFileBytes = 64 << 10

// ParseEnvFile parses a dotenv file into variables. Each line is blank, a
// comment starting with "#", or NAME=VALUE, optionally after "export ". A
// value is
//   - single-quoted: taken literally up to the closing quote;
//   - double-quoted: with the escapes \n, \r, \t, \" and \\;
//   - unquoted: trimmed, and ending where " #" starts a comment.
//
// Quoted values end on the line they start on, and "$" is never expanded:
// a value is exactly what the file says. A name set twice is an error
// rather than "last one wins", since one of the two lines is a mistake.
// Every error names the line and says what is wrong.
func ParseEnvFile(data []byte) (map[string]string, error) {
	if len(data) > MaxEnvFileBytes {
		return nil, errorf("env file is %d bytes, over the limit of %d KiB", len(data), MaxEnvFileBytes>>10)
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	vars := make(map[string]string)
	setOn := make(map[string]int)
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSuffix(line, "\r")
		if !utf8.ValidString(line) {
			return nil, errorf("env file line %d is not valid UTF-8 (save the file as UTF-8)", n)
		}
		name, value, err := parseEnvLine(line)
		if err != nil {
			return nil, errorf("env file line %d: %v", n, err)
		}
		if name == "" {
			continue
		}
		if first, dup := setOn[name]; dup {
			return nil, errorf("env file line %d: %s is already set on line %d (keep one)", n, name, first)
		}
		if err := checkVariable(name, value); err != nil {
			return nil, errorf("env file line %d: %v", n, err)
		}
		if len(vars) == MaxVariables {
			return nil, errorf("env file line %d: more than %d variables (the limit for a deployment)", n, MaxVariables)
		}
		vars[name] = value
		setOn[name] = n
	}
	return vars, nil
}

// parseEnvLine parses one line of an env file, without its line break. It
// returns an empty name for a blank or comment line.
func parseEnvLine(line string) (name, value string, err error) {
	s := strings.TrimLeft(line, " \t")
	if s == "" || s[0] == '#' {
		return "", "", nil
	}
	if rest, ok := strings.CutPrefix(s, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
		s = strings.TrimLeft(rest, " \t")
	}
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return "", "", fmt.Errorf(`expected NAME=VALUE, but there is no "=" in %s`, validate.Quote(s))
	}
	name = strings.TrimRight(s[:eq], " \t")
	if err := checkIdentifier(name); err != nil {
		return "", "", fmt.Errorf("variable name %s %v", validate.Quote(name), err)
	}
	raw := s[eq+1:]
	rest := strings.TrimLeft(raw, " \t")
	var tail string
	switch {
	case rest == "":
		return name, "", nil
	case rest[0] == '#' && len(rest) < len(raw):
		// "NAME= # note" is an empty value with a comment.
		return name, "", nil
	case rest[0] == '\'':
		end := strings.IndexByte(rest[1:], '\'')
		if end < 0 {
			return "", "", fmt.Errorf("the single-quoted value of %s has no closing ' (quoted values cannot span lines)", name)
		}
		value, tail = rest[1:1+end], rest[2+end:]
	case rest[0] == '"':
		value, tail, err = doubleQuoted(rest[1:])
		if err != nil {
			return "", "", fmt.Errorf("the double-quoted value of %s %v", name, err)
		}
	default:
		return name, unquoted(rest), nil
	}
	if t := strings.TrimLeft(tail, " \t"); t != "" && t[0] != '#' {
		return "", "", fmt.Errorf("unexpected %s after the closing quote of %s (quote the whole value, or start a comment with #)", validate.Quote(t), name)
	}
	return name, value, nil
}

// unquoted returns an unquoted value: up to a "#" that follows a space or
// tab, without surrounding blanks. A "#" inside a word, as in a URL
// fragment or a color, stays part of the value.
func unquoted(s string) string {
	for i := 1; i < len(s); i++ {
		if s[i] == '#' && (s[i-1] == ' ' || s[i-1] == '\t') {
			s = s[:i]
			break
		}
	}
	return strings.TrimRight(s, " \t")
}

// doubleQuoted decodes a double-quoted value that starts after the opening
// quote, returning the value and the text after the closing quote. Errors
// continue the sentence "the double-quoted value of NAME ...".
func doubleQuoted(s string) (value, tail string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), s[i+1:], nil
		case c != '\\':
			b.WriteByte(c)
		case i+1 == len(s):
			return "", "", fmt.Errorf(`ends in a lone "\" (write \\ for a backslash)`)
		default:
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"', '\\':
				b.WriteByte(s[i])
			default:
				return "", "", fmt.Errorf(`has the unknown escape \%s (use \n, \r, \t, \" or \\, or single quotes for a literal value)`,
					strings.Trim(validate.DescribeByte(s, i), "'"))
			}
		}
	}
	return "", "", fmt.Errorf(`has no closing " (quoted values cannot span lines; write \n for a line break)`)
}
