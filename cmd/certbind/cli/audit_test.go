package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type auditEntryJSON struct {
	ActorKeyID string `json:"actorKeyId"`
	ActorRole  string `json:"actorRole"`
	Action     string `json:"action"`
	Result     string `json:"result"`
	Code       string `json:"code"`
	Message    string `json:"message"`
	Resource   struct {
		Kind, Account, Project, ID, Name string
	} `json:"resource"`
}

func auditList(t *testing.T, env map[string]string, args ...string) []auditEntryJSON {
	t.Helper()
	out := mustRun(t, env, append([]string{"audit", "list", "--output", "json"}, args...)...)
	var entries []auditEntryJSON
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	return entries
}

// The trail of the workflow on the real suite: a create, a delete refused
// because a deployment references the certificate, and a rotation, each
// with its actor; another account's key sees none of it.
func TestAuditTrailOnTheRealSuite(t *testing.T) {
	account := newAccount()
	env := realEnv(t)
	var key struct{ Key, ID string }
	if err := json.Unmarshal([]byte(mustRun(t, env, "api-key", "create", "--account", account, "--name", "ci", "--output", "json")), &key); err != nil {
		t.Fatal(err)
	}
	accountEnv := map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: key.Key}

	dir := t.TempDir()
	c := createCerts(t, account, certSpec{name: "myBackendCert", days: 100, types: []string{"production"}})[0]
	deployTo(t, account, "production", "production", oneRouteConfig)
	waitReferences(t, account, c.GetId(), 1)
	_, stderr, err := runCLI(t, accountEnv, "mtls-certificate", "delete", "--account", account, "--project", "shop", "--cert-id", c.GetId(), "--yes")
	if err == nil {
		t.Fatal("delete of a referenced certificate succeeded")
	}
	leaf := testpki.NewCA(t, "Rotation CA").Issue(t, testpki.Options{CommonName: "myBackendCert", NotAfter: time.Now().Add(90 * 24 * time.Hour)})
	mustRun(t, accountEnv, "mtls-certificate", "rotate", "--account", account, "--project", "shop", "--cert-id", c.GetId(),
		"--cert", writeFile(t, dir, "cert.pem", string(leaf.CertPEM)), "--key", writeFile(t, dir, "key.pem", string(leaf.KeyPEM)))

	entries := auditList(t, accountEnv, "--account", account, "--resource-id", c.GetId())
	var got []string
	for _, e := range slices.Backward(entries) {
		got = append(got, e.Action+" "+e.Result+" "+e.Code+" by "+e.ActorKeyID+"/"+e.ActorRole)
	}
	want := []string{
		"certificate.create ok  by admin/admin",
		"certificate.delete refused FailedPrecondition by " + key.ID + "/account",
		"certificate.rotate ok  by " + key.ID + "/account",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("trail of %s:\n%q\nwant\n%q", c.GetId(), got, want)
	}
	refused := entries[1]
	if refused.Resource.ID != c.GetId() || !strings.Contains(refused.Message, "production") {
		t.Errorf("refused entry %+v does not name the certificate and the deployment (stderr was %q)", refused, stderr)
	}
	withEnvAccount := map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: key.Key, EnvAccount: account}
	if only := auditList(t, withEnvAccount, "--action", "certificate.rotate"); len(only) != 1 {
		t.Errorf("--action certificate.rotate listed %d entries", len(only))
	}
	if len(auditList(t, env, "--account", account, "--since", "1h")) < 4 {
		t.Errorf("the admin key does not see the account's trail")
	}

	// The deploytracker's writes are in the same listing, refused ones too.
	badConfig := strings.ReplaceAll(oneRouteConfig, "myBackendCert", "noSuchCert")
	if _, _, err := runCLI(t, accountEnv, "deploy", "--account", account, "--project", "shop", "--environment", "staging",
		"--environment-type", "production", "--config", writeFile(t, dir, "bad.json", badConfig)); err == nil {
		t.Fatal("a deploy naming an unknown certificate succeeded")
	}
	var deploys []string
	for _, e := range auditList(t, accountEnv, "--account", account, "--resource-id", "", "--since", "1h") {
		if e.Resource.Kind == "deployment" {
			deploys = append(deploys, e.Action+" "+e.Result+" "+e.Resource.Name+" by "+e.ActorRole)
		}
	}
	if want := []string{"deployment.deploy refused staging by account", "deployment.deploy ok production by admin"}; !slices.Equal(deploys, want) {
		t.Errorf("deployment entries %q, want %q", deploys, want)
	}

	// Pages of one entry walk the merged trail in the same order as one
	// page of all.
	all, err := adminClient(t).ListAuditEntries(t.Context(), &certmgrv1.ListAuditEntriesRequest{Account: account})
	if err != nil {
		t.Fatal(err)
	}
	var walked []string
	req := &certmgrv1.ListAuditEntriesRequest{Account: account, PageSize: 1}
	for range 50 {
		resp, err := adminClient(t).ListAuditEntries(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEntries() {
			walked = append(walked, e.GetService()+" "+e.GetAction()+" "+e.GetResult())
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	var whole []string
	for _, e := range all.GetEntries() {
		whole = append(whole, e.GetService()+" "+e.GetAction()+" "+e.GetResult())
	}
	if !slices.Equal(walked, whole) || len(whole) < 6 {
		t.Errorf("pages of one:\n%q\none page:\n%q", walked, whole)
	}

	other := newAccount()
	var otherKey struct{ Key string }
	if err := json.Unmarshal([]byte(mustRun(t, env, "api-key", "create", "--account", other, "--output", "json")), &otherKey); err != nil {
		t.Fatal(err)
	}
	otherEnv := map[string]string{EnvAPIURL: env[EnvAPIURL], EnvAPIKey: otherKey.Key}
	_, _, err = runCLI(t, otherEnv, "audit", "list", "--account", account)
	if code := ExitCode(err); code != 5 {
		t.Errorf("another account's key reading the trail: exit %d (%v), want 5", code, err)
	}
	if own := auditList(t, otherEnv, "--account", other); len(own) != 1 || own[0].Action != "apikey.create" {
		t.Errorf("the other account's own trail holds %+v, want its key's creation only", own)
	}
}

func TestAuditListRefusesBadFilters(t *testing.T) {
	env := realEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--account", "acme", "--since", "yesterday"}, "--since"},
		{[]string{"--account", "acme", "--action", "delete everything"}, "--action"},
		{[]string{"--account", "acme", "--resource-id", "crt/../x"}, "--resource-id"},
		{[]string{"--account", "Acme Corp"}, "--account"},
		{[]string{"--account", "acme", "--limit", "0"}, "--limit"},
	} {
		_, _, err := runCLI(t, env, append([]string{"audit", "list"}, tc.args...)...)
		if code := ExitCode(err); code != 2 || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("audit list %q: exit %d, error %v; want 2 naming %s", tc.args, code, err, tc.want)
		}
	}
	// The server applies the same rules to REST clients that skip the CLI.
	c := adminClient(t)
	_, err := c.ListAuditEntries(t.Context(), &certmgrv1.ListAuditEntriesRequest{Account: "acme", PageToken: "not-a-token"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 3 || !strings.Contains(apiErr.Error(), "page token") {
		t.Errorf("bad page token over REST: %v, want InvalidArgument naming the page token", err)
	}
}
