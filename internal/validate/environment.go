package validate

import (
	"fmt"
	"strings"
)

// EnvironmentType is the kind of environment a deployment runs in. A
// certificate lists the types it may be used in, so that, for example, a
// production key never serves a preview deployment.
type EnvironmentType string

// The known environment types, in canonical order.
const (
	Development EnvironmentType = "development"
	Preview     EnvironmentType = "preview"
	Production  EnvironmentType = "production"
)

// environmentTypes lists every known type in canonical order, the order in
// which EnvironmentTypes returns them.
var environmentTypes = []EnvironmentType{Development, Preview, Production}

const environmentTypeChoice = "development, preview or production"

// Validate checks that t is one of the known environment types, spelled
// exactly in lowercase. Matching is deliberately not case-insensitive, so a
// value is stored and compared in one spelling only; the error suggests the
// intended value when it can tell what that was.
func (t EnvironmentType) Validate() error {
	if t.index() >= 0 {
		return nil
	}
	if t == "" {
		return &Error{Field: "environmentTypes", Msg: "environment type is empty (use " + environmentTypeChoice + ")"}
	}
	msg := fmt.Sprintf("environment type %s is not known (use %s", quote(string(t)), environmentTypeChoice)
	if guess := guessEnvironmentType(string(t)); guess != "" {
		msg += fmt.Sprintf("; did you mean %q?", guess)
	}
	return &Error{Field: "environmentTypes", Msg: msg + ")"}
}

func (t EnvironmentType) index() int {
	for i, known := range environmentTypes {
		if t == known {
			return i
		}
	}
	return -1
}

// guessEnvironmentType finds the type s most likely meant: the same word in
// another case or with stray spaces, or a unique abbreviation such as "prod".
func guessEnvironmentType(s string) EnvironmentType {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 3 {
		return ""
	}
	var guess EnvironmentType
	for _, known := range environmentTypes {
		if strings.HasPrefix(string(known), s) {
			if guess != "" {
				return ""
			}
			guess = known
		}
	}
	return guess
}

// EnvironmentTypes validates a list of environment types given by a user. It
// requires at least one, refuses any unknown value, drops duplicates and
// returns the types in canonical order (development, preview, production), so
// equal sets always compare equal.
func EnvironmentTypes(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, &Error{Field: "environmentTypes", Msg: "no environment types given (give at least one of " + environmentTypeChoice + ")"}
	}
	seen := make([]bool, len(environmentTypes))
	for _, s := range in {
		t := EnvironmentType(s)
		if err := t.Validate(); err != nil {
			return nil, err
		}
		seen[t.index()] = true
	}
	out := make([]string, 0, len(environmentTypes))
	for i, known := range environmentTypes {
		if seen[i] {
			out = append(out, string(known))
		}
	}
	return out, nil
}

// EnvironmentTypeFlags renders a list of environment types as the
// repeated flag the CLI takes, "--environment-type development
// --environment-type production", in canonical order without duplicates,
// for messages that tell a user which full list to pass (the flag
// replaces the whole list). Unknown types are left out.
func EnvironmentTypeFlags(types []string) string {
	var flags []string
	for _, known := range environmentTypes {
		for _, t := range types {
			if t == string(known) {
				flags = append(flags, "--environment-type "+t)
				break
			}
		}
	}
	return strings.Join(flags, " ")
}

// EnvironmentTypeList renders types for a sentence: "production",
// "preview and production", "development, preview and production".
func EnvironmentTypeList(types []string) string {
	switch len(types) {
	case 0:
		return "none"
	case 1:
		return types[0]
	}
	return strings.Join(types[:len(types)-1], ", ") + " and " + types[len(types)-1]
}
