package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

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
	rec := newRecorder(t)
	account := newAccount()
	_, _, err := runCLI(t, rec.env(), "mtls-certificate", "list", "--account", account, "--project", "shop",
		"--environment-type", "production", "--state", "active", "--expiring-within", "720h", "--page-size", "50")
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	want := "environmentType=production&expiringWithinDays=30&pageSize=50&state=active"
	if reqs[0].Query != want || reqs[0].Status != 200 {
		t.Errorf("query = %q (answered %d), want %q answered 200", reqs[0].Query, reqs[0].Status, want)
	}
}

func TestListFollowsPagesAndPrintsTable(t *testing.T) {
	rec := newRecorder(t)
	account := newAccount()
	createCerts(t, account,
		certSpec{name: "alphaCert", days: 200, types: []string{"development", "production"}},
		certSpec{name: "betaCert", days: 12, types: []string{"production"}},
		certSpec{name: "gammaCert", days: 60, types: []string{"development"}},
		certSpec{name: "deltaCert", days: 90, types: []string{"development", "preview", "production"}},
		certSpec{name: "epsilonCert", days: 400, types: []string{"preview"}},
	)
	stdout, _, err := runCLI(t, rec.env(), "mtls-certificate", "list", "--account", account, "--project", "shop", "--page-size", "2")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.requests()); n != 3 {
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
		if !strings.HasPrefix(line[col:], "crt_") {
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
		"gammaCert":   " 60",
		"deltaCert":   "development,preview,production",
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

// TestListOutputOfRecordsTheServerRefuses prints what the real server
// refuses to take (an expired certificate, one without environment types)
// but may hold in an old store: the table flags the expiry and shows "-",
// and the JSON still has environmentTypes, so scripts can rely on it.
func TestListOutputOfRecordsTheServerRefuses(t *testing.T) {
	expired := &certmgrv1.Certificate{Name: "gammaCert", Id: "crt_expired", Kind: "client", State: "active",
		NotAfter: timestamppb.New(time.Now().Add(-3*24*time.Hour + time.Hour)), DaysUntilExpiry: -3, ExpiringSoon: true}
	var out strings.Builder
	if err := writeCertificateList(&out, OutputTable, []*certmgrv1.Certificate{expired}, ""); err != nil {
		t.Fatal(err)
	}
	if row := strings.Split(out.String(), "\n")[1]; !strings.Contains(row, "-3 ⚠ expired") || !strings.Contains(row, " - ") {
		t.Errorf("row %q, want the expiry flagged and no environment types as -", row)
	}
	out.Reset()
	if err := writeCertificateList(&out, OutputJSON, []*certmgrv1.Certificate{expired}, ""); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &got); err != nil || len(got) != 1 {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if v, ok := got[0]["environmentTypes"].([]any); !ok || len(v) != 0 {
		t.Errorf("environmentTypes = %v, want an empty array", got[0]["environmentTypes"])
	}
}

func TestListJSONIsArrayOfCertificates(t *testing.T) {
	account := newAccount()
	certs := createCerts(t, account, certSpec{name: "alphaCert", days: 200, types: []string{"preview"}}, certSpec{name: "betaCert", days: 12, types: []string{"production"}})
	stdout, _, err := runCLI(t, realEnv(t), "--output", "json", "mtls-certificate", "list", "--account", account, "--project", "shop")
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
	byName := map[string]map[string]any{}
	for _, c := range got {
		byName[c["name"].(string)] = c
	}
	if v, _ := byName["alphaCert"]["environmentTypes"].([]any); len(v) != 1 || v[0] != "preview" || byName["alphaCert"]["expiringSoon"] != false {
		t.Errorf("alphaCert = %v", byName["alphaCert"])
	}
	if beta := byName["betaCert"]; beta["id"] != certs[1].GetId() || beta["expiringSoon"] != true || beta["fingerprintSha256"] != certs[1].GetFingerprintSha256() {
		t.Errorf("betaCert = %v", beta)
	}
	if !strings.HasPrefix(stdout, "[\n  {\n    \"") {
		t.Errorf("output is not indented:\n%s", stdout)
	}
}

func TestListEmpty(t *testing.T) {
	account := newAccount()
	createCerts(t, account, certSpec{name: "activeCert", days: 100, types: []string{"production"}})
	stdout, _, err := runCLI(t, realEnv(t), "mtls-certificate", "list", "--account", account, "--project", "shop", "--state", "disabled")
	if err != nil {
		t.Fatal(err)
	}
	if want := "no disabled certificates in account " + account + ", project shop\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	stdout, _, err = runCLI(t, realEnv(t), "--output", "json", "mtls-certificate", "list", "--account", newAccount(), "--project", "shop")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "[]\n" {
		t.Errorf("JSON of an empty list = %q, want []", stdout)
	}
}

// TestListRefusesRepeatedPageToken answers every page with the same token,
// which the real server never does.
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
			Certificates:  []*certmgrv1.Certificate{{Id: "crt_000000000000000000000001", Name: "a"}},
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
