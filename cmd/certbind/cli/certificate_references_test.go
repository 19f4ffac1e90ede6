package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func TestDescribeShowsReferences(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "myBackendCert", 100, "preview", "production"))
	f.refs = map[string][]*certmgrv1.DeploymentReference{"c1": {
		{DeploymentId: "d2", Environment: "production", EnvironmentType: "production"},
		{DeploymentId: "d7", Environment: "pr-42", EnvironmentType: "preview", InProgress: true},
	}}
	args := []string{"mtls-certificate", "describe", "--account", "acme", "--project", "shop", "--cert-id", "c1"}
	stdout, _, err := runCLI(t, f.env(), args...)
	if err != nil {
		t.Fatal(err)
	}
	_, refs, ok := strings.Cut(stdout, "Referenced by:\n")
	if !ok {
		t.Fatalf("no Referenced by: block:\n%s", stdout)
	}
	want := [][]string{
		{"production", "(production)", "d2"},
		{"pr-42", "(preview)", "d7", "(deploy", "in", "progress)"},
	}
	lines := strings.Split(strings.TrimRight(refs, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("references = %q, want %d lines", lines, len(want))
	}
	for i := range want {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("reference %d = %q, want %q", i, got, want[i])
		}
	}

	stdout, _, err = runCLI(t, f.env(), append([]string{"--output", "json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		ID         string           `json:"id"`
		References []map[string]any `json:"references"`
	}
	if err := json.Unmarshal([]byte(stdout), &obj); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout)
	}
	if obj.ID != "c1" || len(obj.References) != 2 {
		t.Fatalf("JSON = %s", stdout)
	}
	if r := obj.References[1]; r["deploymentId"] != "d7" || r["environment"] != "pr-42" || r["environmentType"] != "preview" || r["inProgress"] != true {
		t.Errorf("reference = %v", r)
	}
	if r := obj.References[0]; r["inProgress"] != false {
		t.Errorf("reference = %v, want inProgress false present", r)
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(stdout), &certmgrv1.Certificate{}); err != nil {
		t.Errorf("output is not a Certificate plus references: %v", err)
	}
}

func TestDescribeNoReferences(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "myBackendCert", 100))
	stdout, _, err := runCLI(t, f.env(), "mtls-certificate", "describe", "--account", "acme", "--project", "shop", "--cert-id", "c1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(stdout, "\nReferenced by: none\n") {
		t.Errorf("output does not end with Referenced by: none:\n%s", stdout)
	}
}

// referencesUnimplemented answers the references call as a server that
// predates it does.
type referencesUnimplemented struct{ f *fakeAPI }

func (h referencesUnimplemented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/references") {
		writeStatus(w, http.StatusNotImplemented, 12, "method ListCertificateReferences not implemented")
		return
	}
	h.f.serve(w, r)
}

func TestDescribeWithServerWithoutReferences(t *testing.T) {
	f := newFakeAPI(t, testCert("c1", "myBackendCert", 100))
	f.srv.Config.Handler = referencesUnimplemented{f}
	args := []string{"mtls-certificate", "describe", "--account", "acme", "--project", "shop", "--cert-id", "c1"}
	stdout, _, err := runCLI(t, f.env(), args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "\nReferenced by: unknown") {
		t.Errorf("output does not say the references are unknown:\n%s", stdout)
	}
	stdout, _, err = runCLI(t, f.env(), append([]string{"--output", "json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "references") {
		t.Errorf("JSON claims references the server did not give:\n%s", stdout)
	}

	// Any other failure of the call is an error, not an empty list.
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/references") {
			writeStatus(w, http.StatusServiceUnavailable, 14, "deploytracker is unavailable")
			return
		}
		f.serve(w, r)
	})
	if _, _, err := runCLI(t, f.env(), args...); err == nil || !strings.Contains(err.Error(), "deploytracker is unavailable") {
		t.Errorf("err = %v, want the server's error", err)
	}
}
