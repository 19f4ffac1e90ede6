package auth

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestManagerRefusals checks who may manage an account and what each
// refused key is told: an edge key of the account hears that its role is
// wrong, every other key that it may not access the account.
func TestManagerRefusals(t *testing.T) {
	for _, tt := range []struct {
		name          string
		p             Principal
		want, notWant string
	}{
		{"admin", Principal{KeyID: "admin", Role: RoleAdmin}, "", ""},
		{"account key", Principal{KeyID: "k1", Role: RoleAccount, Account: "acme"}, "", ""},
		{"account key of another account", Principal{KeyID: "k2", Role: RoleAccount, Account: "globex"},
			`this API key may not access account "acme": it is not allowed outside its own account (use a key of account acme, or the admin key)`, "edge"},
		{"edge key of the account", Principal{KeyID: "k3", Role: RoleEdge, Account: "acme"},
			`this is an edge key of account "acme"`, "may not access account"},
		{"edge key of another account", Principal{KeyID: "k4", Role: RoleEdge, Account: "globex"},
			`this API key may not access account "acme"`, "globex"},
		{"service key", Principal{KeyID: "svc", Role: RoleService}, `this API key may not access account "acme"`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := Manager(WithPrincipal(context.Background(), tt.p), "acme")
			if tt.want == "" {
				if err != nil || id != tt.p.KeyID {
					t.Fatalf("Manager = %q, %v; want %q", id, err, tt.p.KeyID)
				}
				return
			}
			st := status.Convert(err)
			if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), tt.want) {
				t.Errorf("Manager error = %v, want PermissionDenied with %q", err, tt.want)
			}
			if tt.notWant != "" && strings.Contains(st.Message(), tt.notWant) {
				t.Errorf("Manager error = %v, want no %q", err, tt.notWant)
			}
		})
	}
}
