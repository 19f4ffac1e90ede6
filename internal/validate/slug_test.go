package validate

import (
	"errors"
	"strings"
	"testing"
)

func TestSlugAccepts(t *testing.T) {
	for _, s := range []string{"a", "0", "acme", "acme-prod", "a--b", "9lives", strings.Repeat("a", 63)} {
		if err := Account(s); err != nil {
			t.Errorf("Account(%q) = %v, want nil", s, err)
		}
		if err := Project(s); err != nil {
			t.Errorf("Project(%q) = %v, want nil", s, err)
		}
	}
}

func TestSlugRefuses(t *testing.T) {
	for _, tc := range []struct {
		in, wantInMsg, suggestion string
	}{
		{"", "is empty", `e.g. "acme"`},
		{"Acme", `"Acme" is not valid: 'A' at position 1 is not allowed`, `e.g. "acme"`},
		{"acme-", `it ends with '-'`, `e.g. "acme"`},
		{"-acme", `it starts with '-'`, `e.g. "acme"`},
		{"my shop", `' ' at position 3`, `e.g. "my-shop"`},
		{"my_shop", `'_' at position 3`, `e.g. "my-shop"`},
		{"café", `'é' at position 4`, `e.g. "caf"`},
		{"a\xffb", "invalid UTF-8 byte 0xff at position 2", `e.g. "a-b"`},
		{"é", `'é' at position 1`, `e.g. "acme"`},
		{strings.Repeat("a", 64), "is 64 characters long, over the limit of 63", `e.g. "` + strings.Repeat("a", 63) + `"`},
		{strings.Repeat("ab-", 30), "is 90 characters long", `e.g. "` + strings.TrimSuffix(strings.Repeat("ab-", 21), "-") + `"`},
	} {
		err := Account(tc.in)
		var verr *Error
		if !errors.As(err, &verr) || verr.Field != "account" {
			t.Errorf("Account(%q) = %#v, want *Error for field account", tc.in, err)
			continue
		}
		for _, want := range []string{"account ", tc.wantInMsg, tc.suggestion, "lowercase letters, digits or '-'"} {
			if !strings.Contains(verr.Msg, want) {
				t.Errorf("Account(%q) = %q, want it to contain %q", tc.in, verr.Msg, want)
			}
		}
	}
}

func TestProjectNamesItsField(t *testing.T) {
	err := Project("Shop!")
	var verr *Error
	if !errors.As(err, &verr) || verr.Field != "project" || !strings.HasPrefix(verr.Msg, `project "Shop!" is not valid`) {
		t.Fatalf("Project(%q) = %#v, want an *Error for field project", "Shop!", err)
	}
	if !strings.Contains(verr.Msg, `e.g. "shop"`) {
		t.Errorf("Project(%q) = %q, want the suggestion \"shop\"", "Shop!", verr.Msg)
	}
}

func TestSlugMessageBoundsEcho(t *testing.T) {
	// A huge value must not be echoed back in full.
	err := Account(strings.Repeat("A", 1<<20))
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("Account(1 MiB) error is %d bytes long, want a short message", len(err.Error()))
	}
}

func TestEnvironmentNamesItsField(t *testing.T) {
	err := Environment("Prod Env")
	var ve *Error
	if !errors.As(err, &ve) || ve.Field != "environment" || !strings.Contains(ve.Msg, "environment") || strings.Contains(ve.Msg, "project") {
		t.Fatalf("got %v", err)
	}
	if err := Environment("pr-42"); err != nil {
		t.Fatal(err)
	}
}
