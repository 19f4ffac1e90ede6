package stream

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/changefeed"
	"github.com/certbind/certbind/internal/validate"
)

func TestScopeFor(t *testing.T) {
	admin := auth.Principal{Role: auth.RoleAdmin}
	edge := auth.Principal{Role: auth.RoleEdge, Account: "acme"}
	limited := auth.Principal{Role: auth.RoleEdge, Account: "acme", Project: "shop", EnvironmentTypes: []string{"production", "preview"}}
	for _, tc := range []struct {
		name string
		p    auth.Principal
		req  Request
		want changefeed.Scope
		// err is "forbidden", "invalid" or "denied", with msg in its text.
		err, msg string
	}{
		{name: "admin watches everything", p: admin},
		{name: "admin narrows", p: admin, req: Request{Account: "acme", Project: "shop", EnvironmentType: "production"},
			want: changefeed.Scope{Account: "acme", Project: "shop", EnvironmentTypes: []string{"production"}}},
		{name: "edge key gets its account", p: edge, want: changefeed.Scope{Account: "acme"}},
		{name: "edge key asks for its account", p: edge, req: Request{Account: "acme", Project: "shop"}, want: changefeed.Scope{Account: "acme", Project: "shop"}},
		{name: "edge key limited", p: limited, want: changefeed.Scope{Account: "acme", Project: "shop", EnvironmentTypes: []string{"production", "preview"}}},
		{name: "edge key limited narrows", p: limited, req: Request{EnvironmentType: "preview"}, want: changefeed.Scope{Account: "acme", Project: "shop", EnvironmentTypes: []string{"preview"}}},

		{name: "account key", p: auth.Principal{Role: auth.RoleAccount, Account: "acme"}, err: "forbidden", msg: "account keys may not watch things: create an edge key with `certbind api-key create --account A --role edge`"},
		{name: "service key", p: auth.Principal{Role: auth.RoleService}, err: "forbidden", msg: "only edge and admin keys may watch things"},
		{name: "edge key, other account", p: edge, req: Request{Account: "globex"}, err: "denied", msg: `may not access account "globex"`},
		{name: "limited key, other project", p: limited, req: Request{Project: "other"}, err: "forbidden", msg: `limited to project "shop"`},
		{name: "limited key, other type", p: limited, req: Request{EnvironmentType: "development"}, err: "forbidden", msg: "limited to environment types"},
		{name: "project without account", p: admin, req: Request{Project: "shop"}, err: "invalid", msg: "a project scope needs an account: set account too"},
		{name: "bad account", p: admin, req: Request{Account: "Acme Corp"}, err: "invalid", msg: "account"},
		{name: "bad project", p: admin, req: Request{Account: "acme", Project: "../shop"}, err: "invalid", msg: "project"},
		{name: "bad environment type", p: admin, req: Request{EnvironmentType: "prod"}, err: "invalid", msg: "environment"},
		{name: "edge key, bad account", p: edge, req: Request{Account: "ACME\x00"}, err: "invalid", msg: "account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ScopeFor(tc.p, tc.req, "watch things")
			if tc.err == "" {
				if err != nil || got.Account != tc.want.Account || got.Project != tc.want.Project || !slices.Equal(got.EnvironmentTypes, tc.want.EnvironmentTypes) {
					t.Fatalf("ScopeFor = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			var forbidden *auth.ForbiddenError
			var invalid *validate.Error
			switch {
			case err == nil:
				t.Fatalf("ScopeFor = %+v, want a %s error", got, tc.err)
			case tc.err == "forbidden" && !errors.As(err, &forbidden),
				tc.err == "invalid" && !errors.As(err, &invalid),
				tc.err == "denied" && status.Code(err) != codes.PermissionDenied:
				t.Fatalf("ScopeFor: %v (%T), want a %s error", err, err, tc.err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("ScopeFor: %q, want it to say %q", err, tc.msg)
			}
		})
	}
}
