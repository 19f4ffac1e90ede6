package auth

import (
	"fmt"
	"testing"
)

func TestLimit(t *testing.T) {
	limited := Principal{Role: RoleEdge, Account: "acme", Project: "shop", EnvironmentTypes: []string{"preview", "production"}}
	for _, tc := range []struct {
		p         Principal
		project   string
		types     []string
		want      string
		wantError bool
	}{
		{Principal{Role: RoleAdmin}, "", nil, " []", false},
		{Principal{Role: RoleAdmin}, "web", []string{"development"}, "web [development]", false},
		{limited, "", nil, "shop [preview production]", false},
		{limited, "shop", []string{"production"}, "shop [production]", false},
		{limited, "web", nil, "", true},
		{limited, "", []string{"development"}, "", true},
		{limited, "", []string{"production", "development"}, "", true},
	} {
		project, types, err := tc.p.Limit(tc.project, tc.types)
		if (err != nil) != tc.wantError {
			t.Errorf("%+v.Limit(%q, %v): error %v", tc.p, tc.project, tc.types, err)
			continue
		}
		if got := fmt.Sprintf("%s %v", project, types); err == nil && got != tc.want {
			t.Errorf("%+v.Limit(%q, %v) = %s, want %s", tc.p, tc.project, tc.types, got, tc.want)
		}
	}
}
