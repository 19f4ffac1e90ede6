package auth

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/validate"
)

func TestCheckCreateKey(t *testing.T) {
	admin := Principal{Role: RoleAdmin, KeyID: "admin"}
	for _, tc := range []struct {
		name string
		p    Principal
		r    KeyRequest
		// forbidden, invalid: the type of error wanted; msg a part of its text.
		forbidden, invalid bool
		msg                string
		want               KeySpec
	}{
		{name: "account key", p: admin, r: KeyRequest{Account: "acme"}, want: KeySpec{Account: "acme", Role: RoleAccount}},
		{name: "limited edge key", p: admin,
			r:    KeyRequest{Account: "acme", Role: "edge", Project: "shop", EnvironmentTypes: []string{"production", "preview"}, Name: "eu-edge", ExpiresIn: "90d"},
			want: KeySpec{Account: "acme", Role: RoleEdge, Project: "shop", EnvironmentTypes: []string{"preview", "production"}, Name: "eu-edge", ExpiresIn: 90 * 24 * time.Hour}},
		{name: "account key may not", p: Principal{Role: RoleAccount, Account: "acme"}, r: KeyRequest{Account: "acme"}, forbidden: true, msg: "only the admin key may create API keys"},
		// A caller that may not create keys is refused before its input is read.
		{name: "edge key with bad input", p: Principal{Role: RoleEdge, Account: "acme"}, r: KeyRequest{Account: "no such!", Role: "root"}, forbidden: true, msg: "only the admin key may create API keys"},
		{name: "bad account", p: admin, r: KeyRequest{Account: "no such!"}, invalid: true, msg: "account"},
		{name: "unknown role", p: admin, r: KeyRequest{Account: "acme", Role: "root"}, invalid: true,
			msg: `role "root" is not known: use account (manage certificates and deployments) or edge (receive certificates on the distribution stream)`},
		{name: "admin role", p: admin, r: KeyRequest{Account: "acme", Role: "admin"}, invalid: true, msg: `role "admin" is not known`},
		{name: "project on an account key", p: admin, r: KeyRequest{Account: "acme", Project: "shop"}, invalid: true,
			msg: "a project or environment-type limit applies to edge keys only: add --role edge, or drop the limit"},
		{name: "types on an account key", p: admin, r: KeyRequest{Account: "acme", Role: "account", EnvironmentTypes: []string{"production"}}, invalid: true,
			msg: "applies to edge keys only"},
		{name: "bad project", p: admin, r: KeyRequest{Account: "acme", Role: "edge", Project: "no such!"}, invalid: true, msg: "project"},
		{name: "bad type", p: admin, r: KeyRequest{Account: "acme", Role: "edge", EnvironmentTypes: []string{"staging"}}, invalid: true, msg: "staging"},
		{name: "bad expiry", p: admin, r: KeyRequest{Account: "acme", ExpiresIn: "soon"}, invalid: true, msg: `expiry "soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := CheckCreateKey(tc.p, tc.r)
			var fe *ForbiddenError
			var ve *validate.Error
			switch {
			case tc.forbidden && !errors.As(err, &fe), tc.invalid && !errors.As(err, &ve):
				t.Fatalf("error %T %v, want forbidden %v invalid %v", err, err, tc.forbidden, tc.invalid)
			case !tc.forbidden && !tc.invalid && err != nil:
				t.Fatalf("error %v", err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("error %q does not say %q", err, tc.msg)
				}
				return
			}
			if spec.Account != tc.want.Account || spec.Role != tc.want.Role || spec.Project != tc.want.Project || spec.Name != tc.want.Name ||
				spec.ExpiresIn != tc.want.ExpiresIn || !slices.Equal(spec.EnvironmentTypes, tc.want.EnvironmentTypes) {
				t.Fatalf("spec %+v, want %+v", spec, tc.want)
			}
		})
	}
}

func TestKeyManagerAndKeysToList(t *testing.T) {
	for _, tc := range []struct {
		p               Principal
		account         string
		want, wantError string
	}{
		{p: Principal{Role: RoleAdmin}, account: "", want: ""},
		{p: Principal{Role: RoleAdmin}, account: "acme", want: "acme"},
		{p: Principal{Role: RoleAccount, Account: "acme"}, account: "", want: "acme"},
		{p: Principal{Role: RoleAccount, Account: "acme"}, account: "acme", want: "acme"},
		{p: Principal{Role: RoleAccount, Account: "acme"}, account: "other", wantError: `this API key may not access account "other"`},
		{p: Principal{Role: RoleAdmin}, account: "no such!", wantError: "account"},
		{p: Principal{Role: RoleEdge, Account: "acme"}, account: "acme", wantError: "only the admin key or an account key may list or revoke API keys"},
		{p: Principal{Role: RoleService}, account: "", wantError: "only the admin key or an account key may list or revoke API keys"},
	} {
		got, err := KeyManager(tc.p)
		if err == nil {
			got, err = KeysToList(got, tc.account)
		}
		if tc.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("%s key, account %q: error %v, want %q", tc.p.Role, tc.account, err, tc.wantError)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s key, account %q: %q %v, want %q", tc.p.Role, tc.account, got, err, tc.want)
		}
	}
}

func TestAdminAndServiceOnly(t *testing.T) {
	for _, r := range []Role{RoleAccount, RoleEdge, RoleService} {
		var fe *ForbiddenError
		if err := AdminOnly(Principal{Role: r}, "take a backup"); !errors.As(err, &fe) || err.Error() != "only the admin key may take a backup" {
			t.Errorf("AdminOnly(%s) = %v", r, err)
		}
	}
	if err := AdminOnly(Principal{Role: RoleAdmin}, "take a backup"); err != nil {
		t.Errorf("AdminOnly(admin) = %v", err)
	}
	for _, r := range []Role{RoleAdmin, RoleAccount, RoleEdge} {
		if err := ServiceOnly(Principal{Role: r}); err == nil || err.Error() != "only certbind services may call this (with the service key)" {
			t.Errorf("ServiceOnly(%s) = %v", r, err)
		}
	}
	if err := ServiceOnly(Principal{Role: RoleService}); err != nil {
		t.Errorf("ServiceOnly(service) = %v", err)
	}
}

// The audit lines name the actor and the key, never the key's hash.
func TestAuditKeyLines(t *testing.T) {
	var buf bytes.Buffer
	audit := slog.New(slog.NewJSONHandler(&buf, nil))
	secret, id := NewSecret()
	rec := APIKey{ID: id, Hash: Hash(secret), Role: "edge", Account: "acme", Project: "shop", Name: "eu-edge"}
	actor := Principal{Role: RoleAdmin, KeyID: "admin"}
	AuditKeyCreate(audit, actor, rec)
	AuditKeyRevoke(audit, actor, rec)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{`"action":"apikey.create"`, `"action":"apikey.revoke"`} {
		for _, part := range []string{want, `"actor":"admin"`, `"account":"acme"`, `"keyId":"` + id + `"`} {
			if !strings.Contains(lines[i], part) {
				t.Errorf("audit line %s lacks %s", lines[i], part)
			}
		}
		if strings.Contains(lines[i], rec.Hash) || strings.Contains(lines[i], secret) {
			t.Errorf("audit line %s holds the key's hash or secret", lines[i])
		}
	}
}
