package proxy_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/certbind/certbind/internal/testpki"
	"github.com/certbind/certbind/services/edge/proxy"
	"github.com/certbind/certbind/services/edge/state"
)

func ExampleHandler_Fetch() {
	tb := exampleTB{}
	root := testpki.NewCA(tb, "Example Root")
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)

	// A backend that requires a client certificate issued by root and
	// says whose it got.
	serverCert := root.Issue(tb, testpki.Options{
		CommonName:  "backend",
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "the backend saw %s", r.TLS.PeerCertificates[0].Subject)
	}))
	backend.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.DER}, PrivateKey: serverCert.Key}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
	}
	backend.StartTLS()
	defer backend.Close()

	// The edge holds the project's certificate "myBackendCert".
	client := root.Issue(tb, testpki.Options{CommonName: "shop-client"})
	store := state.NewStore()
	store.Update(func(next *state.Snapshot) {
		next.Certificates["cert-1"] = &state.Certificate{
			ID: "cert-1", Name: "myBackendCert", Account: "acme", Project: "shop",
			Kind: "client", State: "active", EnvironmentTypes: []string{"production"}, Version: 1,
			TLS: &tls.Certificate{Certificate: [][]byte{client.DER}, PrivateKey: client.Key},
		}
	})
	h := proxy.New(proxy.Config{State: store, RootCAs: roots})
	defer h.Close()

	req, _ := http.NewRequest(http.MethodGet, backend.URL+"/whoami", nil)
	resp, err := h.Fetch(context.Background(), "acme", "shop", req, proxy.FetchOptions{MTLSCertificate: "myBackendCert"})
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(string(body))

	// A certificate the edge does not have is an error, and nothing is sent.
	req, _ = http.NewRequest(http.MethodGet, backend.URL+"/whoami", nil)
	_, err = h.Fetch(context.Background(), "acme", "shop", req, proxy.FetchOptions{MTLSCertificate: "oldCert"})
	var ce *proxy.CertificateError
	fmt.Println(errors.As(err, &ce), err)
	// Output:
	// the backend saw CN=shop-client
	// true mtlsCertificate "oldCert" is unavailable: not on this edge (deleted or not yet received)
}
