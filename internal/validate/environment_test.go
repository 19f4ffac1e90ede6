package validate

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestEnvironmentTypes(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
	}{
		{[]string{"development"}, []string{"development"}},
		{[]string{"production", "development"}, []string{"development", "production"}},
		{[]string{"production", "preview", "production", "development", "preview"}, []string{"development", "preview", "production"}},
	} {
		got, err := EnvironmentTypes(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("EnvironmentTypes(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestEnvironmentTypesRefuses(t *testing.T) {
	for _, tc := range []struct {
		in        []string
		wantInMsg string
	}{
		{nil, "no environment types given (give at least one of development, preview or production)"},
		{[]string{}, "no environment types given"},
		{[]string{""}, "environment type is empty (use development, preview or production)"},
		{[]string{"production", "staging"}, `environment type "staging" is not known (use development, preview or production)`},
		{[]string{"Production"}, `did you mean "production"?`},
		{[]string{"DEVELOPMENT"}, `did you mean "development"?`},
		{[]string{" preview "}, `did you mean "preview"?`},
		{[]string{"prod"}, `did you mean "production"?`},
		{[]string{"dev"}, `did you mean "development"?`},
		{[]string{"p"}, `environment type "p" is not known (use development, preview or production)`},
		{[]string{"pr"}, `environment type "pr" is not known (use development, preview or production)`},
		{[]string{strings.Repeat("x", 1000)}, `…`},
	} {
		got, err := EnvironmentTypes(tc.in)
		var verr *Error
		if !errors.As(err, &verr) || verr.Field != "environmentTypes" || got != nil {
			t.Errorf("EnvironmentTypes(%q) = %q, %#v; want nil and an *Error for environmentTypes", tc.in, got, err)
			continue
		}
		if !strings.Contains(verr.Msg, tc.wantInMsg) {
			t.Errorf("EnvironmentTypes(%q) = %q, want it to contain %q", tc.in, verr.Msg, tc.wantInMsg)
		}
	}
}

func TestEnvironmentTypeValidate(t *testing.T) {
	for _, ok := range []EnvironmentType{Development, Preview, Production} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%q.Validate() = %v", ok, err)
		}
	}
	for _, bad := range []EnvironmentType{"", "prod", "Preview", "test", "production\x00"} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%q.Validate() = nil, want an error", bad)
		}
	}
}

func TestEnvironmentTypeNoGuessWhenAmbiguous(t *testing.T) {
	// "pre" is a prefix of preview only, but "pr" would fit both preview
	// and production and must not be guessed.
	if msg := EnvironmentType("pre").Validate().Error(); !strings.Contains(msg, `did you mean "preview"?`) {
		t.Errorf(`"pre": %s`, msg)
	}
	if msg := EnvironmentType("PR").Validate().Error(); strings.Contains(msg, "did you mean") {
		t.Errorf(`"PR": %s`, msg)
	}
}
