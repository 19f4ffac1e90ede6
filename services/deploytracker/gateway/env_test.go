package gateway

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseVar(t *testing.T) {
	for _, tc := range []struct{ in, key, value string }{
		{"BACKEND_MTLS_CERT=myBackendCert", "BACKEND_MTLS_CERT", "myBackendCert"},
		{"_x=", "_x", ""},
		{"URL=https://h/?a=b", "URL", "https://h/?a=b"},
		{"A= spaced ", "A", " spaced "},
	} {
		key, value, err := ParseVar(tc.in)
		if err != nil || key != tc.key || value != tc.value {
			t.Errorf("ParseVar(%q) = %q, %q, %v; want %q, %q", tc.in, key, value, err, tc.key, tc.value)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"NOVALUE", `--var "NOVALUE" has no "=" (write --var NAME=VALUE)`},
		{"=x", "--var: variable name \"\" is empty"},
		{"1A=x", `variable name "1A" starts with '1' (start with a letter or _)`},
		{"MY-VAR=x", `variable name "MY-VAR" has '-' at position 3 (use letters, digits and _)`},
		{"É=x", `starts with 'É'`},
		{"A=a\x00b", "variable A contains a NUL byte"},
		{"A=\xff", "variable A is not valid UTF-8"},
		{"A=" + strings.Repeat("x", 4097), "variable A is 4097 bytes long, over the limit of 4096"},
		{strings.Repeat("N", 129) + "=x", "129 characters long, over the limit of 128"},
	} {
		_, _, err := ParseVar(tc.in)
		var perr *Error
		if !errors.As(err, &perr) || perr.Route != -1 || !strings.Contains(perr.Msg, tc.want) {
			t.Errorf("ParseVar(%q) error = %v, want an *Error containing %q", tc.in, err, tc.want)
		}
	}
}

func TestValidateVariables(t *testing.T) {
	ok := map[string]string{"A": "", "b_2": strings.Repeat("v", 4096), strings.Repeat("N", 128): "é"}
	if err := ValidateVariables(ok); err != nil {
		t.Errorf("ValidateVariables(valid) = %v", err)
	}
	if err := ValidateVariables(nil); err != nil {
		t.Errorf("ValidateVariables(nil) = %v", err)
	}
	many := make(map[string]string)
	for i := range MaxVariables + 1 {
		many[fmt.Sprintf("V%d", i)] = "x"
	}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{many, "201 variables given, over the limit of 200"},
		{map[string]string{"OK": "x", "9LIVES": "x"}, `variable name "9LIVES" starts with '9'`},
		{map[string]string{"A B": "x"}, `has ' ' at position 2`},
		{map[string]string{"A": "\x00"}, "NUL"},
		// The first name in sorted order is reported, whatever the map order.
		{map[string]string{"b-": "x", "a-": "x", "c-": "x"}, `"a-"`},
	} {
		err := ValidateVariables(tc.vars)
		var perr *Error
		if !errors.As(err, &perr) || !strings.Contains(perr.Msg, tc.want) {
			t.Errorf("ValidateVariables: %v, want an *Error containing %q", err, tc.want)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	vars := map[string]string{"HOST": "h.example", "PORT": "8443", "DOLLAR": "$env(HOST)", "E": ""}
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"no references", "no references"},
		{"$env(HOST)", "h.example"},
		{"https://$env(HOST):$env(PORT)/v1", "https://h.example:8443/v1"},
		{"$env(DOLLAR)", "$env(HOST)"},
		{"a$env(E)b", "ab"},
		{"$env", "$env"},
		{"$ENV(HOST)", "$ENV(HOST)"},
	} {
		got, err := expandEnv(tc.in, vars)
		if err != nil || got != tc.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"$env(HOST", `without a closing ")"`},
		{"$env()", "variable name is empty"},
		{"$env(a b)", "has ' ' at position 2"},
		{"$env(MISSING)", "variable MISSING is not set"},
		{strings.Repeat("$env(PORT)", 3000), "over 8192 bytes long after $env substitution"},
	} {
		if got, err := expandEnv(tc.in, vars); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("expandEnv(%.40q) = %q, %v; want an error containing %q", tc.in, got, err, tc.want)
		}
	}
}
