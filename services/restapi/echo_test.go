package restapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestDecodeErrorsEchoNoInput sends bodies the facade cannot decode, the way
// a user pastes a PEM key where base64 PKCS#12 belongs. The answer must name
// the field but repeat no part of what was sent: it is key material.
func TestDecodeErrorsEchoNoInput(t *testing.T) {
	conn, err := grpc.NewClient("passthrough:///unused", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h, err := New(context.Background(), Config{Certmgr: conn, Deploytracker: conn})
	if err != nil {
		t.Fatal(err)
	}
	const keyBody = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgK3yMaTeRiAl"
	pemKey := `-----BEGIN PRIVATE KEY-----\n` + keyBody + `\n-----END PRIVATE KEY-----\n`
	for _, tc := range []struct {
		desc, body, field string
	}{
		{"PEM key in the pkcs12 field", `{"name":"x","pkcs12":"` + pemKey + `"}`, "pkcs12"},
		{"unquoted base64", `{"name":"x","pkcs12":` + keyBody + `}`, ""},
		{"key in a number field", `{"pageSize":"` + pemKey + `"}`, ""},
		{"key as a field name", `{"` + keyBody + `":1}`, ""},
		{"misspelt field", `{"nmae":"x","pkcs12":"` + pemKey + `"}`, "nmae"},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/v1/accounts/acme/projects/shop/mtls-certificates", strings.NewReader(tc.body))
		r.Header.Set("Authorization", "Bearer k")
		h.ServeHTTP(w, r)
		got := w.Body.String()
		if w.Code != 400 {
			t.Errorf("%s: HTTP %d %s, want 400", tc.desc, w.Code, got)
		}
		for _, part := range []string{"BEGIN PRIVATE KEY", keyBody[:12], keyBody[20:32], keyBody[len(keyBody)-12:]} {
			if strings.Contains(got, part) {
				t.Errorf("%s: the answer repeats %q of the key: %s", tc.desc, part, got)
			}
		}
		if tc.field != "" && !strings.Contains(got, tc.field) {
			t.Errorf("%s: the answer %s does not name the field %s", tc.desc, got, tc.field)
		}
	}
}
