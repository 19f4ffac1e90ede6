package tracing

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/credentials"
)

// Flags are the tracing flags of every certbind binary.
type Flags struct {
	// Endpoint is the OTLP/gRPC collector: HOST:PORT (TLS), or a URL,
	// http://HOST:PORT (plaintext) or https://HOST:PORT (TLS). Empty
	// means the environment's, and then tracing off.
	Endpoint string
	// Insecure sends spans in plaintext to a HOST:PORT endpoint.
	Insecure bool
	// CAFile verifies the collector instead of the system roots.
	CAFile string
}

// flagSet is what AddFlags needs of a flag set: both the standard
// library's and cobra's pflag have it.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
	BoolVar(p *bool, name string, value bool, usage string)
}

// AddFlags adds --otlp-endpoint, --otlp-insecure and --otlp-ca to fs.
func (f *Flags) AddFlags(fs flagSet) {
	fs.StringVar(&f.Endpoint, "otlp-endpoint", "", "send traces to this OTLP/gRPC collector: HOST:PORT (TLS), http://HOST:PORT (plaintext) or https://HOST:PORT; "+
		"default $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or $OTEL_EXPORTER_OTLP_ENDPOINT; unset means tracing off")
	fs.BoolVar(&f.Insecure, "otlp-insecure", false, "send traces to a HOST:PORT --otlp-endpoint without TLS (default $OTEL_EXPORTER_OTLP_INSECURE)")
	fs.StringVar(&f.CAFile, "otlp-ca", "", "PEM file of the CA that verifies the OTLP collector (default the system roots)")
}

// endpoint is a checked collector address.
type endpoint struct {
	hostport string
	insecure bool
}

// resolve fills what the flags leave unset from the environment and checks
// the endpoint. ok is false when tracing is off.
func (f Flags) resolve(getenv func(string) string) (ep endpoint, ok bool, err error) {
	raw, from := f.Endpoint, "--otlp-endpoint"
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if raw == "" {
			raw, from = getenv(name), name
		}
	}
	if raw == "" {
		if f.Insecure || f.CAFile != "" {
			return endpoint{}, false, errors.New("--otlp-insecure and --otlp-ca need --otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT)")
		}
		return endpoint{}, false, nil
	}
	insecure := f.Insecure
	if !insecure {
		if v := getenv("OTEL_EXPORTER_OTLP_INSECURE"); v != "" {
			insecure, _ = strconv.ParseBool(v)
		}
	}
	ep, err = parseEndpoint(raw, insecure)
	if err != nil {
		return endpoint{}, false, fmt.Errorf("%s %q: %w", from, raw, err)
	}
	if ep.insecure && f.CAFile != "" {
		return endpoint{}, false, fmt.Errorf("%s %q is plaintext, so --otlp-ca has nothing to verify (use https:// or HOST:PORT without --otlp-insecure)", from, raw)
	}
	return ep, true, nil
}

// parseEndpoint checks a collector address: HOST:PORT, or an http or
// https URL with nothing but a host and port (OTLP/gRPC has no path).
func parseEndpoint(raw string, insecure bool) (endpoint, error) {
	hostport := raw
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return endpoint{}, errors.New("not a URL (use HOST:PORT or http://HOST:PORT)")
		}
		switch u.Scheme {
		case "http":
			insecure = true
		case "https":
			if insecure {
				return endpoint{}, errors.New("https:// contradicts --otlp-insecure")
			}
		default:
			return endpoint{}, fmt.Errorf("scheme %q is not http or https", u.Scheme)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return endpoint{}, errors.New("an OTLP/gRPC endpoint is a host and port only, with no user, path or query")
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return endpoint{}, errors.New("no host and port (e.g. collector:4317 or http://127.0.0.1:4317)")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return endpoint{}, fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return endpoint{hostport: hostport, insecure: insecure}, nil
}

// Check reports a flag or environment setting Start would refuse,
// without starting anything.
func (f Flags) Check() error {
	_, _, err := f.resolve(os.Getenv)
	return err
}

// Start returns the tracing the flags ask for, exporting over OTLP/gRPC
// as service, or nil (tracing off) without an endpoint. The exporter
// connects in the background: a collector that is down loses spans, it
// does not stop the service.
func Start(ctx context.Context, f Flags, service string) (*Tracing, error) {
	ep, ok, err := f.resolve(os.Getenv)
	if err != nil || !ok {
		return nil, err
	}
	opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(ep.hostport)}
	switch {
	case ep.insecure:
		opts = append(opts, otlptracegrpc.WithInsecure())
	case f.CAFile != "":
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--otlp-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--otlp-ca %s holds no PEM certificate", f.CAFile)
		}
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	default:
		opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
	}
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	// The sampler is the SDK's default, parent-based always-on, unless
	// OTEL_TRACES_SAMPLER says otherwise (e.g. parentbased_traceidratio
	// with OTEL_TRACES_SAMPLER_ARG=0.01 for a busy edge).
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))),
	)
	return &Tracing{provider: tp, shutdown: tp.Shutdown}, nil
}
