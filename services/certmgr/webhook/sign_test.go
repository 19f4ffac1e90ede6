package webhook

import (
	"strings"
	"testing"
	"time"
)

// The signature is the one openssl computes:
//
//	printf '%s' '1700000000.{"event":"certificate.expiring"}' | openssl dgst -sha256 -hmac whsec_test
func TestSignMatchesOpenSSL(t *testing.T) {
	body := []byte(`{"event":"certificate.expiring"}`)
	got := Sign([]byte("whsec_test"), 1700000000, body)
	want := "v1=abb6d4bf11f40da859fac67d3183eca4da3e114db3180d13f5766cd9b3233c36"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !Verify([]byte("whsec_test"), "1700000000", got, body) {
		t.Fatal("Verify refuses the signature Sign made")
	}
	for name, ok := range map[string]bool{
		"other secret":    Verify([]byte("whsec_tesu"), "1700000000", got, body),
		"other timestamp": Verify([]byte("whsec_test"), "1700000001", got, body),
		"other body":      Verify([]byte("whsec_test"), "1700000000", got, append(body, ' ')),
		"no prefix":       Verify([]byte("whsec_test"), "1700000000", strings.TrimPrefix(got, "v1="), body),
		"not hex":         Verify([]byte("whsec_test"), "1700000000", "v1=zz", body),
		"empty":           Verify([]byte("whsec_test"), "1700000000", "", body),
	} {
		if ok {
			t.Errorf("Verify accepts a signature with %s", name)
		}
	}
}

func TestThreshold(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left time.Duration
		want int
	}{
		{90 * day, -1},
		{30*day + time.Second, -1},
		{30 * day, 30},
		{20 * day, 30},
		{14 * day, 14},
		{8 * day, 14},
		{6 * day, 7},
		{7 * day, 7},
		{25 * time.Hour, 7},
		{day, 1},
		{time.Minute, 1},
		{0, 0},
		{-day, 0},
	} {
		if got := threshold(now.Add(tc.left), now); got != tc.want {
			t.Errorf("threshold with %v left = %d, want %d", tc.left, got, tc.want)
		}
	}
}

func TestBackoffBounded(t *testing.T) {
	d := &Dispatcher{cfg: Config{Backoff: 30 * time.Second, MaxBackoff: time.Hour}}
	for n := 1; n <= 20; n++ {
		full := min(30*time.Second<<(n-1), time.Hour)
		for range 50 {
			w := d.backoff(n)
			if w < full/2 || w > full {
				t.Fatalf("backoff after attempt %d = %v, want between %v and %v", n, w, full/2, full)
			}
		}
	}
}

func TestExcerpt(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"ok", "ok"},
		{"<script>alert(1)</script>", `\x3cscript\x3ealert(1)\x3c/script\x3e`},
		{"a\x00b\r\n\x1b[31m", `a\x00b\r\n\x1b[31m`},
		{"é", `\u00e9`},
	} {
		if got := Excerpt([]byte(tc.in)); got != tc.want {
			t.Errorf("Excerpt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := Excerpt([]byte(strings.Repeat("\x00", 10000)))
	if len(long) > maxExcerpt+3 || !strings.HasSuffix(long, "...") {
		t.Fatalf("excerpt of a long body has %d bytes: %q", len(long), long)
	}
}
