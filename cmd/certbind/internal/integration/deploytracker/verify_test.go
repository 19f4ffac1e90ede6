package deploytracker_test

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// editDeployment changes the stored record of environment env in acme/shop,
// as JSON, in the stopped deploytracker's bbolt file.
func editDeployment(t *testing.T, tx *bolt.Tx, env string, fn func(rec map[string]any)) {
	t.Helper()
	b := tx.Bucket([]byte("deployments"))
	key := []byte("acme\x00shop\x00" + env)
	var rec map[string]any
	if err := json.Unmarshal(b.Get(key), &rec); err != nil {
		t.Fatal(err)
	}
	fn(rec)
	v, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(key, v); err != nil {
		t.Fatal(err)
	}
}

func (p *pair) verify(t *testing.T, key string) (*deploytrackerv1.VerifyDeploymentsResponse, error) {
	t.Helper()
	return deploytrackerv1.NewVerifyServiceClient(p.dialDeploytracker(t, key)).VerifyDeployments(callCtx(t), &deploytrackerv1.VerifyDeploymentsRequest{})
}

// TestVerifyCrossChecksCertificates damages deployment records of a real
// bbolt file in specific ways and checks that VerifyDeployments names each
// one, with certmgr's view of the certificates they reference; a sound
// store has no findings; only the admin key may verify.
func TestVerifyCrossChecksCertificates(t *testing.T) {
	p := startPair(t)
	certID := p.createCert(t, certSpec{"acme", "shop", "myBackendCert", []string{"development", "production"}, false})
	vars := map[string]string{"CERT": "myBackendCert"}
	for _, env := range []string{"production", "missing", "preview", "wrongkind", "garbled", "disabled"} {
		typ := "production"
		if env == "preview" {
			typ = "development"
		}
		p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: env, EnvironmentType: typ, Config: config(t, ""), Variables: vars})
	}
	r, err := p.verify(t, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.GetFindings()) != 0 || r.GetDeployments() != 6 || r.GetReferences() != 6 {
		t.Fatalf("a sound store: %v", r)
	}
	if _, err := p.certs.DisableCertificate(callCtx(t), &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: certID}); err != nil {
		t.Fatal(err)
	}

	p.stopDeploytracker(t)
	db, err := bolt.Open(filepath.Join(p.dtCfg.DataDir, "deploytracker.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		editDeployment(t, tx, "missing", func(rec map[string]any) {
			rec["references"].([]any)[0].(map[string]any)["certificateId"] = "cert_gone"
		})
		editDeployment(t, tx, "preview", func(rec map[string]any) { rec["environmentType"] = "preview" })
		editDeployment(t, tx, "wrongkind", func(rec map[string]any) {
			rec["references"].([]any)[0].(map[string]any)["option"] = "caCertificate"
		})
		b := tx.Bucket([]byte("deployments"))
		key := []byte("acme\x00shop\x00garbled")
		v := b.Get(key)
		return b.Put(key, append([]byte(nil), v[:len(v)/3]...))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	p.startDeploytracker(t)

	r, err = p.verify(t, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.GetFindings() {
		got = append(got, f.GetEnvironment()+" "+f.GetCheck()+" "+f.GetSeverity())
		if f.GetMessage() == "" || f.GetDeploymentId() == "" {
			t.Errorf("finding %v lacks a message or a deployment id", f)
		}
	}
	sort.Strings(got)
	want := []string{
		"disabled certificate_disabled warning",
		"garbled undecodable_record error",
		"missing certificate_missing error",
		"preview certificate_not_allowed_in_environment_type error",
		"production certificate_disabled warning",
		"wrongkind certificate_wrong_kind error",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.GetDeployments() != 6 {
		t.Fatalf("read %d deployments, want 6", r.GetDeployments())
	}

	_, err = p.verify(t, p.apiKey(t, "acme", ""))
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "admin key") {
		t.Fatalf("verify with an account key: %v, want PermissionDenied naming the admin key", err)
	}
}
