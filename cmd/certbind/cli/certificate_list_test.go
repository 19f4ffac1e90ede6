package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func TestParseExpiringWithin(t *testing.T) {
	tests := []struct {
		in      string
		want    int32
		wantErr string
	}{
		{"30", 30, ""},
		{"30d", 30, ""},
		{"1d", 1, ""},
		{"720h", 30, ""},
		{"24h", 1, ""},
		{"1440m", 1, ""},
		{"2147483647", 2147483647, ""},
		{"0", 0, "at least one day"},
		{"0d", 0, "at least one day"},
		{"-5", 0, "is not a duration"},
		{"-48h", 0, "at least one day"},
		{"36h", 0, "not a whole number of days"},
		{"90s", 0, "not a whole number of days"},
		{"d", 0, "not a number of days"},
		{"3.5d", 0, "not a number of days"},
		{"1w", 0, "is not a duration"},
		{"soon", 0, "is not a duration"},
		{"2147483648", 0, "too large"},
		{"99999999999999999999d", 0, "too large"},
		{"", 0, "is not a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseExpiringWithin(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseExpiringWithin(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "--expiring-within") {
					t.Errorf("error %q does not name the flag", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseExpiringWithin(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestListSendsFilters(t *testing.T) {
	f := newFakeAPI(t)
	_, _, err := runCLI(t, f.env(), "mtls-certificate", "list", "--account", "acme", "--project", "shop",
		"--environment-type", "production", "--state", "active", "--expiring-within", "720h", "--page-size", "50")
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	want := "environmentType=production&expiringWithinDays=30&pageSize=50&state=active"
	if reqs[0].Query != want {
		t.Errorf("query = %q, want %q", reqs[0].Query, want)
	}
}

func TestListFollowsPagesAndPrintsTable(t *testing.T) {
	f := newFakeAPI(t,
		testCert("c1", "alphaCert", 200, "development", "production"),
		testCert("c2", "betaCert", 12, "production"),
		testCert("c3", "gammaCert", -3, "development"),
		testCert("c4", "deltaCert", 90),
		testCert("c5", "epsilonCert", 400, "preview"),
	)
	stdout, _, err := runCLI(t, f.env(), "mtls-certificate", "list", "--account", "acme", "--project", "shop", "--page-size", "2")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("%d requests for 5 certificates in pages of 2, want 3", n)
	}
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want a header and 5 rows:\n%s", len(lines), stdout)
	}
	header := strings.Fields(lines[0])
	if strings.Join(header, " ") != "NAME ID KIND STATE ENVIRONMENT TYPES NOT AFTER DAYS LEFT" {
		t.Errorf("header = %q", lines[0])
	}
	// Columns line up: every row has its ID where the header has ID.
	col := strings.Index(lines[0], "ID")
	for _, line := range lines[1:] {
		if line[col] != 'c' {
			t.Errorf("row %q: ID column not at offset %d", line, col)
		}
	}
	rows := map[string]string{}
	for _, line := range lines[1:] {
		rows[strings.Fields(line)[0]] = line
	}
	for name, want := range map[string]string{
		"alphaCert":   "development,production",
		"betaCert":    "12 ⚠ expiring soon",
		"gammaCert":   "-3 ⚠ expired",
		"deltaCert":   " - ",
		"epsilonCert": " 400",
	} {
		if !strings.Contains(rows[name], want) {
			t.Errorf("row of %s = %q, want it to contain %q", name, rows[name], want)
		}
	}
	if strings.Contains(rows["alphaCert"], "⚠") {
		t.Errorf("alphaCert is flagged though it has 200 days left: %q", rows["alphaCert"])
	}
}

func TestListJSONIsArrayOfCertificates(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "alphaCert", 200), testCert("c2", "betaCert", 12, "production"))
	stdout, _, err := runCLI(t, f.env(), "--output", "json", "mtls-certificate", "list", "--account", "acme", "--project", "shop")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, stdout)
	}
	if len(got) != 2 {
		t.Fatalf("%d elements, want 2", len(got))
	}
	// environmentTypes appears even when empty, so scripts can rely on it.
	if v, ok := got[0]["environmentTypes"]; !ok || len(v.([]any)) != 0 {
		t.Errorf("alphaCert environmentTypes = %v (present %v), want an empty array", v, ok)
	}
	if got[1]["name"] != "betaCert" || got[1]["expiringSoon"] != true || got[1]["fingerprintSha256"] != "ab12" {
		t.Errorf("second element = %v", got[1])
	}
	if !strings.HasPrefix(stdout, "[\n  {\n    \"") {
		t.Errorf("output is not indented:\n%s", stdout)
	}
}

func TestListEmpty(t *testing.T) {
	f := newFakeAPI(t)
	stdout, _, err := runCLI(t, f.env(), "mtls-certificate", "list", "--account", "acme", "--project", "shop", "--state", "disabled")
	if err != nil {
		t.Fatal(err)
	}
	if want := "no disabled certificates in account acme, project shop\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	stdout, _, err = runCLI(t, f.env(), "--output", "json", "mtls-certificate", "list", "--account", "acme", "--project", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "[]\n" {
		t.Errorf("JSON of an empty list = %q, want []", stdout)
	}
}

func TestListRefusesRepeatedPageToken(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls > 10 {
			t.Error("the CLI kept asking for the same page")
			writeStatus(w, http.StatusInternalServerError, 13, "stop")
			return
		}
		writeMessage(w, &certmgrv1.ListCertificatesResponse{
			Certificates:  []*certmgrv1.Certificate{testCert("c1", "a", 100)},
			NextPageToken: "again",
		})
	}))
	defer srv.Close()
	_, _, err := runCLI(t, map[string]string{EnvAPIURL: srv.URL, EnvAPIKey: testKey},
		"mtls-certificate", "list", "--account", "acme", "--project", "shop")
	if err == nil || !strings.Contains(err.Error(), `page token "again" twice`) {
		t.Fatalf("err = %v, want a complaint about the repeated page token", err)
	}
}
