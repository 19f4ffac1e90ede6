package cli

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// oneRouteConfig is a gateway config whose one route presents myBackendCert.
const oneRouteConfig = `{"routes": [{"path": "/api/*", "handler": {"export": "UrlForwardHandler",
  "options": {"baseUrl": "https://127.0.0.1:9443", "mtlsCertificate": "myBackendCert"}}}]}`

// deployTo deploys config as environment (of type envType) of account/shop
// on the shared suite through the CLI and returns the deployment's id.
func deployTo(t *testing.T, account, environment, envType, config string, extra ...string) string {
	t.Helper()
	file := writeFile(t, t.TempDir(), "gateway.json", config)
	out := mustRun(t, realEnv(t), append([]string{"--output", "json", "deploy", "--account", account, "--project", "shop",
		"--environment", environment, "--environment-type", envType, "--config", file}, extra...)...)
	var d struct{ ID string }
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.ID == "" {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	return d.ID
}

// waitReferences waits until certmgr, which learns of deployments from the
// deploytracker's stream, lists n references of the certificate id.
func waitReferences(t *testing.T, account, id string, n int) {
	t.Helper()
	c := adminClient(t)
	var last []*certmgrv1.DeploymentReference
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := c.ListCertificateReferences(t.Context(), account, "shop", id)
		if err != nil {
			t.Fatal(err)
		}
		if last = resp.GetReferences(); len(last) == n {
			return
		}
	}
	t.Fatalf("certificate %s has references %v, want %d", id, last, n)
}

func TestDescribeShowsReferences(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"preview", "production"}})[0]
	prod := deployTo(t, account, "production", "production", oneRouteConfig)
	preview := deployTo(t, account, "pr-42", "preview", oneRouteConfig)
	waitReferences(t, account, c.GetId(), 2)

	args := []string{"mtls-certificate", "describe", "--account", account, "--project", "shop", "--cert-id", c.GetId()}
	stdout, _, err := runCLI(t, realEnv(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	_, refs, ok := strings.Cut(stdout, "Referenced by:\n")
	if !ok {
		t.Fatalf("no Referenced by: block:\n%s", stdout)
	}
	want := []string{"production (production) " + prod, "pr-42 (preview) " + preview}
	var got []string
	for _, l := range strings.Split(strings.TrimRight(refs, "\n"), "\n") {
		got = append(got, strings.Join(strings.Fields(l), " "))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("references = %q, want %q", got, want)
	}

	stdout, _, err = runCLI(t, realEnv(t), append([]string{"--output", "json"}, args...)...)
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
	if obj.ID != c.GetId() || len(obj.References) != 2 {
		t.Fatalf("JSON = %s", stdout)
	}
	for _, r := range obj.References {
		if r["inProgress"] != false {
			t.Errorf("reference = %v, want inProgress false present", r)
		}
		if r["environment"] == "pr-42" && (r["deploymentId"] != preview || r["environmentType"] != "preview") {
			t.Errorf("reference = %v", r)
		}
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(stdout), &certmgrv1.Certificate{}); err != nil {
		t.Errorf("output is not a Certificate plus references: %v", err)
	}
}

// TestDescribeShowsDeployInProgress prints a reference of a deploy that has
// not finished, a moment too short to catch on the real suite.
func TestDescribeShowsDeployInProgress(t *testing.T) {
	refs := &certmgrv1.ListCertificateReferencesResponse{References: []*certmgrv1.DeploymentReference{
		{DeploymentId: "dep_7", Environment: "pr-42", EnvironmentType: "preview", InProgress: true}}}
	var out strings.Builder
	if err := writeCertificateWithReferences(&out, OutputTable, &certmgrv1.Certificate{Id: "crt_x"}, refs); err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(out.String(), "Referenced by:\n")
	if got := strings.Join(strings.Fields(block), " "); got != "pr-42 (preview) dep_7 (deploy in progress)" {
		t.Errorf("reference = %q", got)
	}
	out.Reset()
	if err := writeCertificateWithReferences(&out, OutputJSON, &certmgrv1.Certificate{Id: "crt_x"}, refs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"inProgress": true`) {
		t.Errorf("JSON = %s", out.String())
	}
}

func TestDescribeNoReferences(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	stdout, _, err := runCLI(t, realEnv(t), "mtls-certificate", "describe", "--account", account, "--project", "shop", "--cert-id", c.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(stdout, "\nReferenced by: none\n") {
		t.Errorf("output does not end with Referenced by: none:\n%s", stdout)
	}
}

// TestDescribeWithServerWithoutReferences answers the references call as a
// server that predates it does (501), then as one whose deploytracker is
// down (503); the certificate itself comes from the real suite.
func TestDescribeWithServerWithoutReferences(t *testing.T) {
	account := newAccount()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	rec := newRecorder(t)
	rec.setFault(failReferences(http.StatusNotImplemented, 12, "method ListCertificateReferences not implemented"))
	args := []string{"mtls-certificate", "describe", "--account", account, "--project", "shop", "--cert-id", c.GetId()}
	stdout, _, err := runCLI(t, rec.env(), args...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "\nReferenced by: unknown") || !strings.Contains(stdout, c.GetId()) {
		t.Errorf("output does not say the references are unknown:\n%s", stdout)
	}
	stdout, _, err = runCLI(t, rec.env(), append([]string{"--output", "json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout, "references") {
		t.Errorf("JSON claims references the server did not give:\n%s", stdout)
	}

	// Any other failure of the call is an error, not an empty list.
	rec.setFault(failReferences(http.StatusServiceUnavailable, 14, "deploytracker is unavailable"))
	if _, _, err := runCLI(t, rec.env(), args...); err == nil || !strings.Contains(err.Error(), "deploytracker is unavailable") {
		t.Errorf("err = %v, want the server's error", err)
	}
}
