package gateway_test

import (
	"fmt"

	"github.com/certbind/certbind/services/deploytracker/gateway"
)

func ExampleParse() {
	config := []byte(`{"routes": [{
		"path": "/api/*",
		"handler": {
			"export": "UrlForwardHandler",
			"options": {"baseUrl": "https://$env(BACKEND_HOST)", "mtlsCertificate": "$env(BACKEND_MTLS_CERT)"}
		}
	}]}`)

	cfg, err := gateway.Parse(config, map[string]string{"BACKEND_HOST": "127.0.0.1:9443", "BACKEND_MTLS_CERT": "myBackendCert"})
	fmt.Println(cfg.Routes[0].BaseURL, err)
	for _, ref := range cfg.CertificateRefs() {
		fmt.Println(ref.Route, ref.Option, ref.Name)
	}

	_, err = gateway.Parse(config, map[string]string{"BACKEND_HOST": "127.0.0.1:9443"})
	fmt.Println(err)
	// Output:
	// https://127.0.0.1:9443 <nil>
	// 0 mtlsCertificate myBackendCert
	// route 1 ("/api/*") option "mtlsCertificate": variable BACKEND_MTLS_CERT is not set (pass --var BACKEND_MTLS_CERT=... to certbind deploy, or put it in the --env-file)
}

func ExampleParseEnvFile() {
	vars, err := gateway.ParseEnvFile([]byte("# shop, production\nexport BACKEND_MTLS_CERT=myBackendCert # rotated in May\nGREETING=\"hello\\nworld\"\n"))
	fmt.Printf("%q %v\n", vars, err)

	_, err = gateway.ParseEnvFile([]byte("BACKEND-HOST=h\n"))
	fmt.Println(err)
	// Output:
	// map["BACKEND_MTLS_CERT":"myBackendCert" "GREETING":"hello\nworld"] <nil>
	// env file line 1: variable name "BACKEND-HOST" has '-' at position 8 (use letters, digits and _)
}
