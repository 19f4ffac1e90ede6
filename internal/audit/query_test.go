package audit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/validate"
)

func TestParseRefusesBadInput(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		req   Request
		field string
	}{
		{"empty account", Request{}, "account"},
		{"bad account", Request{Account: "Acme Corp"}, "account"},
		{"resource with a slash", Request{Account: "acme", ResourceID: "crt_a/b"}, "resource"},
		{"resource too long", Request{Account: "acme", ResourceID: strings.Repeat("a", 65)}, "resource"},
		{"action with spaces", Request{Account: "acme", Action: "certificate create"}, "action"},
		{"action without a dot", Request{Account: "acme", Action: "create"}, "action"},
		{"since garbage", Request{Account: "acme", Since: "yesterday"}, "since"},
		{"since negative", Request{Account: "acme", Since: "-24h"}, "since"},
		{"since too many days", Request{Account: "acme", Since: "99999999d"}, "since"},
		{"since date only", Request{Account: "acme", Since: "2026-12-01"}, "since"},
		{"token not base64", Request{Account: "acme", PageToken: "!!!"}, "page_token"},
		{"token of another kind", Request{Account: "acme", PageToken: "YWJjZGVmZ2hpag"}, "page_token"},
		{"token too long", Request{Account: "acme", PageToken: strings.Repeat("A", 70)}, "page_token"},
		{"token of too many positions", Request{Account: "acme", PageToken: EncodePageToken(1, 2, 3, 4, 5)}, "page_token"},
		{"token cut short", Request{Account: "acme", PageToken: EncodePageToken(1, 2)[:20]}, "page_token"},
		{"page size negative", Request{Account: "acme", PageSize: -1}, "page_size"},
		{"page size too big", Request{Account: "acme", PageSize: MaxPageSize + 1}, "page_size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.req, now)
			var ve *validate.Error
			if !errors.As(err, &ve) {
				t.Fatalf("Parse(%+v) = %v, want a *validate.Error", tc.req, err)
			}
			if ve.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", ve.Field, tc.field, err)
			}
			if len(err.Error()) > 300 {
				t.Errorf("message is %d bytes long: %q", len(err.Error()), err)
			}
		})
	}
}

func TestParseAcceptsGoodInput(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	q, err := Parse(Request{Account: "acme", ResourceID: "crt_abc", Action: "certificate.delete", Since: "7d", PageToken: EncodePageToken(42), PageSize: 10}, now)
	if err != nil {
		t.Fatal(err)
	}
	if q.Before != 42 || len(q.Others) != 0 || !q.Since.Equal(now.Add(-7*24*time.Hour)) || q.PageSize != 10 {
		t.Errorf("query %+v", q)
	}
	q, err = Parse(Request{Account: "acme", Since: "2026-12-01T00:00:00Z"}, now)
	if err != nil || !q.Since.Equal(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("since: %v %v", q.Since, err)
	}
	if _, err := Parse(Request{Account: SystemAccount}, now); err != nil {
		t.Errorf("system account: %v", err)
	}
}

func FuzzParsePageToken(f *testing.F) {
	f.Add(EncodePageToken(1))
	f.Add(EncodePageToken(1 << 63))
	f.Add(EncodePageToken(0, 7))
	f.Add("")
	f.Add("YTEAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		positions, err := ParsePageToken(s)
		if err != nil {
			var ve *validate.Error
			if !errors.As(err, &ve) || ve.Field != "page_token" {
				t.Fatalf("error %v is not a page_token validation error", err)
			}
			return
		}
		if len(positions) == 0 || len(positions) > maxPositions {
			t.Fatalf("token %q read as %d positions", s, len(positions))
		}
		if got := EncodePageToken(positions...); got != s {
			t.Fatalf("token %q read as %v, which encodes as %q", s, positions, got)
		}
	})
}
