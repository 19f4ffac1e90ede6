package gateway

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
)

func TestParseEnvFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		want map[string]string
	}{
		{"empty", "", map[string]string{}},
		{"blank and comments", "\n  \n# comment\n   # indented comment\n", map[string]string{}},
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}},
		{"CRLF and BOM", "\ufeffA=1\r\nB=2\r\n", map[string]string{"A": "1", "B": "2"}},
		{"export prefix", "export A=1\nexport\tB=2\nexported=3\n", map[string]string{"A": "1", "B": "2", "exported": "3"}},
		{"spaces around =", "  A =  x  \n", map[string]string{"A": "x"}},
		{"unquoted comment", "A=value # note\nB=a#b\nC=#c\nD= # only a note\nE=\t#\n", map[string]string{"A": "value", "B": "a#b", "C": "#c", "D": "", "E": ""}},
		{"empty value", "A=\nB=''\nC=\"\"\n", map[string]string{"A": "", "B": "", "C": ""}},
		{"single quotes are literal", `A='$env(X) \n "q" # no comment'` + "\n", map[string]string{"A": `$env(X) \n "q" # no comment`}},
		{"double quote escapes", `A="line1\nline2\t\"q\" \\ \r $HOME # not a comment"`, map[string]string{"A": "line1\nline2\t\"q\" \\ \r $HOME # not a comment"}},
		{"comment after quotes", `A="x" # note` + "\n" + `B='y'#note`, map[string]string{"A": "x", "B": "y"}},
		{"quotes inside unquoted", `A=it's "fine"`, map[string]string{"A": `it's "fine"`}},
		{"equals in value", "URL=https://h/?a=b&c=d", map[string]string{"URL": "https://h/?a=b&c=d"}},
		{"no final newline", "A=1", map[string]string{"A": "1"}},
	} {
		got, err := ParseEnvFile([]byte(tc.file))
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%s: ParseEnvFile = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestParseEnvFileRefuses(t *testing.T) {
	var many strings.Builder
	for i := range MaxVariables + 1 {
		fmt.Fprintf(&many, "V%d=x\n", i)
	}
	for _, tc := range []struct {
		name string
		file string
		want string
	}{
		{"no equals", "A=1\nJUST_A_NAME\n", `env file line 2: expected NAME=VALUE, but there is no "=" in "JUST_A_NAME"`},
		{"export alone", "export\n", `line 1: expected NAME=VALUE`},
		{"bad name", "# c\n\nMY-VAR=1\n", `env file line 3: variable name "MY-VAR" has '-' at position 3`},
		{"digit first", "1A=x", `line 1: variable name "1A" starts with '1'`},
		{"empty name", "=x", `line 1: variable name "" is empty`},
		{"unclosed single quote", "A='abc\n", "line 1: the single-quoted value of A has no closing '"},
		{"unclosed double quote", "A=\"abc\ndef\"", `line 1: the double-quoted value of A has no closing "`},
		{"escaped closing quote", `A="abc\"`, `has no closing "`},
		{"lone backslash", `A="abc\`, `ends in a lone "\"`},
		{"unknown escape", `A="a\qb"`, `line 1: the double-quoted value of A has the unknown escape \q`},
		{"text after quote", `A="a"b`, `line 1: unexpected "b" after the closing quote of A`},
		{"duplicate", "A=1\nB=2\nA=3\n", "env file line 3: A is already set on line 1 (keep one)"},
		{"NUL", "A=a\x00b", "line 1: variable A contains a NUL byte"},
		{"not UTF-8", "A=1\nB=\xff\n", "env file line 2 is not valid UTF-8"},
		{"long value", "A=" + strings.Repeat("x", 4097), "line 1: variable A is 4097 bytes long"},
		{"too many", many.String(), "line 201: more than 200 variables"},
		{"too big", strings.Repeat("#", MaxEnvFileBytes+1), "over the limit of 64 KiB"},
	} {
		got, err := ParseEnvFile([]byte(tc.file))
		var perr *Error
		if !errors.As(err, &perr) || got != nil || perr.Route != -1 || !strings.Contains(perr.Msg, tc.want) {
			t.Errorf("%s: ParseEnvFile = %q, %v; want an *Error containing %q", tc.name, got, err, tc.want)
		}
	}
}
