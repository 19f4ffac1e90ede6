package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

const testKey = "test-key"

// runCLI runs the command tree with args and the given environment, and
// returns what it printed and the error main would print.
func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd(func(k string) string { return env[k] })
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// offlineServer returns the URL of a server that fails the test when it is
// called at all: for checks that must happen before any request.
func offlineServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s: validation should have failed first", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeAPI serves canned REST answers for the certificates of acme/shop, in
// the shape the grpc-gateway facade gives them, and records every request.
type fakeAPI struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	certs []*certmgrv1.Certificate
	reqs  []recordedRequest

	// refs are the deployments that reference each certificate, by id.
	refs        map[string][]*certmgrv1.DeploymentReference
	deployments []*deploytrackerv1.Deployment
	// routes are what a deploy answers with, standing in for the server's
	// resolution of the config.
	routes []*deploytrackerv1.Route
}

func newFakeAPI(t *testing.T, certs ...*certmgrv1.Certificate) *fakeAPI {
	f := &fakeAPI{t: t, certs: certs}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// env returns an environment pointing the CLI at the fake with a valid key.
func (f *fakeAPI) env() map[string]string {
	return map[string]string{EnvAPIURL: f.srv.URL, EnvAPIKey: testKey}
}

func (f *fakeAPI) requests() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.reqs...)
}

const (
	certsPath   = "/v1/accounts/acme/projects/shop/mtls-certificates"
	deploysPath = "/v1/accounts/acme/projects/shop/deployments"
)

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, recordedRequest{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body})

	if r.Header.Get("Authorization") != "Bearer "+testKey {
		writeStatus(w, http.StatusUnauthorized, 16, "missing or invalid API key")
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/v1/accounts/acme/api-keys":
		req := &certmgrv1.CreateApiKeyRequest{}
		f.mustUnmarshal(body, req)
		writeMessage(w, &certmgrv1.CreateApiKeyResponse{Key: "cbk_secret", Id: "key1", Account: "acme", Role: req.GetRole()})
	case r.Method == http.MethodPost && path == certsPath:
		req := &certmgrv1.CreateCertificateRequest{}
		f.mustUnmarshal(body, req)
		c := testCert("c"+strconv.Itoa(len(f.certs)+1), req.GetName(), 100, req.GetEnvironmentTypes()...)
		f.certs = append(f.certs, c)
		writeMessage(w, c)
	case r.Method == http.MethodGet && path == certsPath:
		f.list(w, r)
	case strings.HasPrefix(path, certsPath+"/"):
		f.one(w, r, strings.TrimPrefix(path, certsPath+"/"), body)
	case r.Method == http.MethodPost && path == deploysPath:
		f.deploy(w, body)
	case r.Method == http.MethodGet && path == deploysPath:
		var match []*deploytrackerv1.Deployment
		for _, d := range f.deployments {
			if env := r.URL.Query().Get("environment"); env == "" || d.GetEnvironment() == env {
				match = append(match, d)
			}
		}
		writeMessage(w, &deploytrackerv1.ListDeploymentsResponse{Deployments: match})
	case strings.HasPrefix(path, deploysPath+"/"):
		f.oneDeployment(w, r, strings.TrimPrefix(path, deploysPath+"/"))
	default:
		writeStatus(w, http.StatusNotFound, 5, "no route for "+r.Method+" "+path)
	}
}

// list pages with the index of the next certificate as the page token.
func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var match []*certmgrv1.Certificate
	for _, c := range f.certs {
		if n := q.Get("name"); n != "" && c.GetName() != n {
			continue
		}
		if s := q.Get("state"); s != "" && c.GetState() != s {
			continue
		}
		match = append(match, c)
	}
	start, _ := strconv.Atoi(q.Get("pageToken"))
	size, _ := strconv.Atoi(q.Get("pageSize"))
	if size == 0 {
		size = 100
	}
	end := min(start+size, len(match))
	resp := &certmgrv1.ListCertificatesResponse{Certificates: match[start:end]}
	if end < len(match) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	writeMessage(w, resp)
}

func (f *fakeAPI) one(w http.ResponseWriter, r *http.Request, rest string, body []byte) {
	if id, ok := strings.CutSuffix(rest, "/references"); ok && r.Method == http.MethodGet {
		writeMessage(w, &certmgrv1.ListCertificateReferencesResponse{References: f.refs[id]})
		return
	}
	id, verb, _ := strings.Cut(rest, ":")
	var cert *certmgrv1.Certificate
	idx := -1
	for i, c := range f.certs {
		if c.GetId() == id {
			cert, idx = c, i
		}
	}
	if cert == nil {
		writeStatus(w, http.StatusNotFound, 5, fmt.Sprintf("certificate %q not found", id))
		return
	}
	switch {
	case r.Method == http.MethodGet && verb == "":
		writeMessage(w, cert)
	case r.Method == http.MethodPost && verb == "disable":
		cert.State = "disabled"
		writeMessage(w, cert)
	case r.Method == http.MethodPost && verb == "enable":
		cert.State = "active"
		writeMessage(w, cert)
	case r.Method == http.MethodPost && verb == "rotate":
		cert.Version++
		cert.FingerprintSha256 = fmt.Sprintf("rotated%d", cert.Version)
		writeMessage(w, cert)
	case r.Method == http.MethodPatch && verb == "":
		req := &certmgrv1.UpdateCertificateRequest{}
		f.mustUnmarshal(body, req)
		cert.EnvironmentTypes = req.GetEnvironmentTypes()
		writeMessage(w, cert)
	case r.Method == http.MethodDelete && verb == "":
		f.certs = append(f.certs[:idx], f.certs[idx+1:]...)
		writeMessage(w, &certmgrv1.DeleteCertificateResponse{Id: id})
	default:
		writeStatus(w, http.StatusNotFound, 5, "no route for "+r.Method+" "+r.URL.Path)
	}
}

// deploy records a deployment the way the server would, with f.routes as
// its resolved routes; deploying an environment again bumps its generation.
func (f *fakeAPI) deploy(w http.ResponseWriter, body []byte) {
	req := &deploytrackerv1.DeployRequest{}
	f.mustUnmarshal(body, req)
	d := &deploytrackerv1.Deployment{
		Id: "d" + strconv.Itoa(len(f.deployments)+1), Account: req.GetAccount(), Project: req.GetProject(),
		Environment: req.GetEnvironment(), EnvironmentType: req.GetEnvironmentType(), Generation: 1,
		Url:    "http://127.0.0.1:8000/acme/shop/" + req.GetEnvironment(),
		Config: req.GetConfig(), Variables: req.GetVariables(), Routes: f.routes, UpdatedAt: timestamppb.Now(),
	}
	for _, r := range f.routes {
		if n := r.GetMtlsCertificateName(); n != "" {
			d.References = append(d.References, &deploytrackerv1.CertificateReference{CertificateName: n, Kind: "client", RoutePath: r.GetPath(), Option: "mtlsCertificate"})
		}
		if n := r.GetCaCertificateName(); n != "" {
			d.References = append(d.References, &deploytrackerv1.CertificateReference{CertificateName: n, Kind: "ca", RoutePath: r.GetPath(), Option: "caCertificate"})
		}
	}
	for i, old := range f.deployments {
		if old.GetEnvironment() == d.GetEnvironment() {
			d.Id, d.Generation = old.GetId(), old.GetGeneration()+1
			f.deployments[i] = d
			writeMessage(w, d)
			return
		}
	}
	f.deployments = append(f.deployments, d)
	writeMessage(w, d)
}

func (f *fakeAPI) oneDeployment(w http.ResponseWriter, r *http.Request, id string) {
	for i, d := range f.deployments {
		if d.GetId() != id {
			continue
		}
		switch r.Method {
		case http.MethodGet:
			writeMessage(w, d)
		case http.MethodDelete:
			f.deployments = append(f.deployments[:i], f.deployments[i+1:]...)
			writeMessage(w, &deploytrackerv1.DeleteDeploymentResponse{Id: id})
		default:
			writeStatus(w, http.StatusNotFound, 5, "no route for "+r.Method+" "+r.URL.Path)
		}
		return
	}
	writeStatus(w, http.StatusNotFound, 5, fmt.Sprintf("deployment %q not found", id))
}

func (f *fakeAPI) mustUnmarshal(body []byte, m proto.Message) {
	if err := protojson.Unmarshal(body, m); err != nil {
		f.t.Errorf("request body %s is not a %T: %v", body, m, err)
	}
}

// testCert returns an active client certificate that expires in days.
func testCert(id, name string, days int32, envTypes ...string) *certmgrv1.Certificate {
	now := time.Now()
	return &certmgrv1.Certificate{
		Id: id, Name: name, Account: "acme", Project: "shop",
		EnvironmentTypes: envTypes, State: "active", Kind: "client",
		Subject: "CN=" + name, Issuer: "CN=Test CA", SerialNumber: "0a1b",
		FingerprintSha256: "ab12", KeyAlgorithm: "ECDSA P-256", Version: 1,
		NotBefore:       timestamppb.New(now.Add(-24 * time.Hour)),
		NotAfter:        timestamppb.New(now.Add(time.Duration(days)*24*time.Hour + time.Hour)),
		CreatedAt:       timestamppb.New(now),
		DaysUntilExpiry: days,
		ExpiringSoon:    days <= 30,
	}
}

