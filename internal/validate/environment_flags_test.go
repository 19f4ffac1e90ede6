package validate

import "testing"

func TestEnvironmentTypeFlags(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"production"}, "--environment-type production"},
		{[]string{"production", "development", "production"}, "--environment-type development --environment-type production"},
		{[]string{"preview", "staging", "development"}, "--environment-type development --environment-type preview"},
	} {
		if got := EnvironmentTypeFlags(tt.in); got != tt.want {
			t.Errorf("EnvironmentTypeFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEnvironmentTypeList(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, "none"},
		{[]string{"production"}, "production"},
		{[]string{"preview", "production"}, "preview and production"},
		{[]string{"development", "preview", "production"}, "development, preview and production"},
	} {
		if got := EnvironmentTypeList(tt.in); got != tt.want {
			t.Errorf("EnvironmentTypeList(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
