package deploytracker_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// TestRefusedDeploysRecordNothing sends broken deploys through gRPC to a
// project that already has a deployment, and checks after each one that
// the refusal says what is wrong and where, and that nothing was written:
// no revision, no change to the deployments, no reference in progress.
func TestRefusedDeploysRecordNothing(t *testing.T) {
	p := startPair(t)
	ids := map[string]string{}
	for _, c := range []certSpec{
		{"acme", "shop", "myBackendCert", []string{"development", "production"}, false},
		{"acme", "shop", "prodOnly", []string{"production"}, false},
		{"acme", "shop", "offCert", []string{"development", "production"}, false},
		{"acme", "shop", "backendCa", []string{"development", "production"}, true},
		{"acme", "other", "otherProjectCert", []string{"development", "production"}, false},
	} {
		ids[c.name] = p.createCert(t, c)
	}
	if _, err := p.certs.DisableCertificate(callCtx(t), &certmgrv1.DisableCertificateRequest{Account: "acme", Project: "shop", Id: ids["offCert"]}); err != nil {
		t.Fatal(err)
	}
	globexKey := p.apiKey(t, "globex", "")

	// The deployment every refused deploy must leave alone.
	base := p.deploy(t, &deploytrackerv1.DeployRequest{Account: "acme", Project: "shop", Environment: "production", EnvironmentType: "production",
		Config: forward(t, "$env(BACKEND_MTLS_CERT)", "backendCa"), Variables: map[string]string{"BACKEND_MTLS_CERT": "myBackendCert"}})
	baseRev := p.revision(t)
	baseList := p.list(t)
	refs := deploytrackerv1.NewReferenceServiceClient(p.dialDeploytracker(t, serviceKey))
	baseUses := map[string]int{"myBackendCert": 1, "backendCa": 1}

	route := func(path, handler string) string {
		return `{"path": "` + path + `", "handler": ` + handler + `}`
	}
	fwd := func(opts string) string {
		return `{"export": "UrlForwardHandler", "options": {"baseUrl": "https://127.0.0.1:9443"` + opts + `}}`
	}
	routes := func(rs ...string) *structpb.Struct {
		return gw(t, `{"routes": [`+strings.Join(rs, ", ")+`]}`)
	}
	mtls := func(name string) *structpb.Struct {
		return routes(route("/api/*", fwd(`, "mtlsCertificate": "`+name+`"`)))
	}

	tests := []struct {
		name     string
		key      string // "" for the admin key
		project  string // "" for shop
		env      string // "" for production
		envType  string // "" for production
		config   *structpb.Struct
		noConfig bool
		vars     map[string]string
		code     codes.Code
		want     []string
	}{
		{name: "no routes", config: gw(t, `{}`),
			code: codes.InvalidArgument, want: []string{`gateway config has no "routes"`}},
		{name: "routes not an array", config: gw(t, `{"routes": {"path": "/api/*"}}`),
			code: codes.InvalidArgument, want: []string{`"routes" must be an array`}},
		{name: "routes empty", config: gw(t, `{"routes": []}`),
			code: codes.InvalidArgument, want: []string{`"routes" is empty`}},
		{name: "misspelt top-level key", config: gw(t, `{"route": []}`),
			code: codes.InvalidArgument, want: []string{`unknown key "route"`, `did you mean "routes"`}},
		{name: "route without handler", config: routes(`{"path": "/api/*"}`),
			code: codes.InvalidArgument, want: []string{`("/api/*")`, `has no "handler"`}},
		{name: "unknown handler", config: routes(route("/api/*", `{"export": "UrlForward", "options": {}}`)),
			code: codes.InvalidArgument, want: []string{`("/api/*")`, `handler.export "UrlForward" is not a supported handler`}},
		{name: "baseUrl missing", config: routes(route("/api/*", `{"export": "UrlForwardHandler", "options": {"mtlsCertificate": "myBackendCert"}}`)),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "baseUrl"`, "is missing"}},
		{name: "bad URL scheme", config: routes(route("/api/*", `{"export": "UrlForwardHandler", "options": {"baseUrl": "ftp://backend.example.com"}}`)),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "baseUrl"`, `has the scheme "ftp"`}},
		{name: "bad URL in the second route", config: routes(route("/a", fwd("")), route("/b", `{"export": "UrlForwardHandler", "options": {"baseUrl": "backend.example.com"}}`)),
			code: codes.InvalidArgument, want: []string{`("/b") option "baseUrl"`, "not an absolute URL"}},
		{name: "unknown variable", config: mtls("$env(BACKEND_MTLS_CERT)"),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "mtlsCertificate"`, "variable BACKEND_MTLS_CERT is not set"}},
		{name: "empty variable", config: mtls("$env(BACKEND_MTLS_CERT)"), vars: map[string]string{"BACKEND_MTLS_CERT": ""},
			code: codes.InvalidArgument, want: []string{`("/api/*") option "mtlsCertificate"`, "variable BACKEND_MTLS_CERT is empty"}},
		{name: "unknown certificate", config: mtls("ghostCert"),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "mtlsCertificate"`, `no certificate named "ghostCert" in account "acme", project "shop"`}},
		{name: "certificate of another project", config: mtls("otherProjectCert"),
			code: codes.InvalidArgument, want: []string{`option "mtlsCertificate"`, `no certificate named "otherProjectCert"`}},
		{name: "disabled certificate through a variable", config: mtls("$env(BACKEND_MTLS_CERT)"), vars: map[string]string{"BACKEND_MTLS_CERT": "offCert"},
			code: codes.InvalidArgument, want: []string{`("/api/*") option "mtlsCertificate"`, `certificate "offCert" is disabled`}},
		{name: "certificate not allowed in the environment type", env: "dev", envType: "development", config: mtls("prodOnly"),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "mtlsCertificate"`, `certificate "prodOnly" is not allowed in development environments`}},
		{name: "CA certificate in mtlsCertificate", config: mtls("backendCa"),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "mtlsCertificate"`, `certificate "backendCa" is a CA certificate`}},
		{name: "client certificate in caCertificate", config: routes(route("/api/*", fwd(`, "caCertificate": "myBackendCert"`))),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "caCertificate"`, `certificate "myBackendCert" is a client certificate`}},
		{name: "good first route, unknown certificate in the second", config: routes(
			route("/a", fwd(`, "mtlsCertificate": "myBackendCert", "caCertificate": "backendCa"`)),
			route("/b", fwd(`, "mtlsCertificate": "ghostCert"`))),
			code: codes.InvalidArgument, want: []string{`("/b") option "mtlsCertificate"`, `no certificate named "ghostCert"`}},
		{name: "certificate name that is no identifier", config: mtls("my-backend-cert"),
			code: codes.InvalidArgument, want: []string{`("/api/*") option "mtlsCertificate"`, "not a valid JavaScript identifier"}},
		{name: "bad environment name", env: "Prod Env", config: mtls("myBackendCert"),
			code: codes.InvalidArgument, want: []string{`environment "Prod Env" is not valid`}},
		{name: "blank environment name", env: " ", config: mtls("myBackendCert"),
			code: codes.InvalidArgument, want: []string{`environment " " is not valid`}},
		{name: "bad environment type", envType: "prod", config: mtls("myBackendCert"),
			code: codes.InvalidArgument, want: []string{`environment type "prod" is not known`, "production"}},
		{name: "missing config", noConfig: true,
			code: codes.InvalidArgument, want: []string{"no gateway config"}},
		{name: "bad variable name", config: mtls("$env(CERT)"), vars: map[string]string{"CERT": "myBackendCert", "1BAD": "x"},
			code: codes.InvalidArgument, want: []string{`variable name "1BAD"`, "start with a letter or _"}},
		{name: "bad project", project: "Shop", config: mtls("myBackendCert"),
			code: codes.InvalidArgument, want: []string{`project "Shop"`}},
		{name: "another account's key", key: globexKey, config: mtls("myBackendCert"),
			code: codes.PermissionDenied, want: []string{`may not access account "acme"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &deploytrackerv1.DeployRequest{Account: "acme", Project: or(tt.project, "shop"), Environment: or(tt.env, "production"),
				EnvironmentType: or(tt.envType, "production"), Config: tt.config, Variables: tt.vars}
			if tt.noConfig {
				req.Config = nil
			}
			client := p.deploys
			if tt.key != "" {
				client = deploytrackerv1.NewDeploymentServiceClient(p.dialDeploytracker(t, tt.key))
			}
			resp, err := client.Deploy(callCtx(t), req)
			if err == nil {
				t.Fatalf("deploy accepted: %v", resp.GetDeployment())
			}
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Errorf("code = %v, want %v (%s)", st.Code(), tt.code, st.Message())
			}
			for _, w := range tt.want {
				if !strings.Contains(st.Message(), w) {
					t.Errorf("message %q does not say %q", st.Message(), w)
				}
			}

			if rev := p.revision(t); rev != baseRev {
				t.Errorf("revision moved from %d to %d", baseRev, rev)
			}
			if list := p.list(t); !proto.Equal(list, baseList) {
				t.Errorf("deployments changed:\n%v\nwant\n%v", list, baseList)
			}
			for name, id := range ids {
				if name == "otherProjectCert" {
					continue
				}
				resp, err := refs.ListCertificateReferences(callCtx(t), &deploytrackerv1.ListCertificateReferencesRequest{Account: "acme", Project: "shop", CertificateId: id})
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetUses()) != baseUses[name] {
					t.Errorf("%s has %d uses, want %d: %v", name, len(resp.GetUses()), baseUses[name], resp.GetUses())
				}
				for _, u := range resp.GetUses() {
					if u.GetInProgress() || u.GetDeploymentId() != base.GetId() {
						t.Errorf("%s: use %v left behind", name, u)
					}
				}
			}
		})
	}

	// The certificates the refused deploys named are still free to go.
	if _, err := p.certs.DeleteCertificate(callCtx(t), &certmgrv1.DeleteCertificateRequest{Account: "acme", Project: "shop", Id: ids["prodOnly"]}); err != nil {
		t.Errorf("delete of a certificate only refused deploys named: %v", err)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// list returns acme/shop's deployments.
func (p *pair) list(t *testing.T) *deploytrackerv1.ListDeploymentsResponse {
	t.Helper()
	resp, err := p.deploys.ListDeployments(callCtx(t), &deploytrackerv1.ListDeploymentsRequest{Account: "acme", Project: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
