package tracing

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/certbind/certbind/internal/tracing/otlptest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags Flags
		env   map[string]string
		want  string
	}{
		{"no port", Flags{Endpoint: "collector"}, nil, "no host and port"},
		{"no host", Flags{Endpoint: ":4317"}, nil, "no host and port"},
		{"port zero", Flags{Endpoint: "collector:0"}, nil, "is not a number from 1 to 65535"},
		{"port too large", Flags{Endpoint: "collector:70000"}, nil, "is not a number from 1 to 65535"},
		{"port not a number", Flags{Endpoint: "collector:otlp"}, nil, "is not a number"},
		{"scheme", Flags{Endpoint: "grpc://collector:4317"}, nil, `scheme "grpc" is not http or https`},
		{"path", Flags{Endpoint: "http://collector:4317/v1/traces"}, nil, "host and port only"},
		{"user", Flags{Endpoint: "https://u:p@collector:4317"}, nil, "host and port only"},
		{"query", Flags{Endpoint: "http://collector:4317?x=1"}, nil, "host and port only"},
		{"https with insecure", Flags{Endpoint: "https://collector:4317", Insecure: true}, nil, "contradicts --otlp-insecure"},
		{"plaintext with a CA", Flags{Endpoint: "http://collector:4317", CAFile: "ca.pem"}, nil, "--otlp-ca has nothing to verify"},
		{"insecure without endpoint", Flags{Insecure: true}, nil, "need --otlp-endpoint"},
		{"CA without endpoint", Flags{CAFile: "ca.pem"}, nil, "need --otlp-endpoint"},
		{"bad environment", Flags{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector"}, `OTEL_EXPORTER_OTLP_ENDPOINT "collector"`},
		{"URL that does not parse", Flags{Endpoint: "http://[::1"}, nil, "not a URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok, err := tc.flags.resolve(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resolve(%+v) = %v, want an error containing %q", tc.flags, err, tc.want)
			}
			if ok {
				t.Fatal("a refused setting turned tracing on")
			}
		})
	}
}

func TestFlagsResolve(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags Flags
		env   map[string]string
		want  endpoint
		on    bool
	}{
		{"off", Flags{}, nil, endpoint{}, false},
		{"host and port is TLS", Flags{Endpoint: "collector:4317"}, nil, endpoint{"collector:4317", false}, true},
		{"insecure flag", Flags{Endpoint: "collector:4317", Insecure: true}, nil, endpoint{"collector:4317", true}, true},
		{"http URL is plaintext", Flags{Endpoint: "http://127.0.0.1:4317"}, nil, endpoint{"127.0.0.1:4317", true}, true},
		{"https URL with a slash", Flags{Endpoint: "https://[::1]:4317/"}, nil, endpoint{"[::1]:4317", false}, true},
		{"environment", Flags{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"}, endpoint{"c:4317", true}, true},
		{"traces endpoint first", Flags{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "a:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "b:2"}, endpoint{"b:2", false}, true},
		{"insecure from the environment", Flags{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "a:1", "OTEL_EXPORTER_OTLP_INSECURE": "true"}, endpoint{"a:1", true}, true},
		{"flag over environment", Flags{Endpoint: "f:3"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "a:1"}, endpoint{"f:3", false}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, on, err := tc.flags.resolve(env(tc.env))
			if err != nil || on != tc.on || got != tc.want {
				t.Fatalf("resolve(%+v) = %+v, %v, %v; want %+v, %v", tc.flags, got, on, err, tc.want, tc.on)
			}
		})
	}
}

func TestOffChangesNothing(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	tr, err := Start(context.Background(), Flags{}, "test")
	if err != nil || tr != nil {
		t.Fatalf("Start without an endpoint = %v, %v; want nil, nil", tr, err)
	}
	if len(tr.ServerOptions()) != 0 || len(tr.DialOptions()) != 0 || tr.Enabled() {
		t.Fatal("tracing off added gRPC options")
	}
	mux := http.NewServeMux()
	if h := tr.HTTP(mux); h != http.Handler(mux) {
		t.Fatal("tracing off wrapped the HTTP handler")
	}
	h := http.Header{}
	tr.Inject(context.Background(), h)
	if len(h) != 0 {
		t.Fatalf("tracing off wrote headers %v", h)
	}
}

// TestExportsOneTrace sends a REST request with a caller's traceparent
// through the HTTP wrapper to a real gRPC server, and reads back from a
// real OTLP receiver that the REST span continues the caller's trace and
// the gRPC client and server spans are its descendants.
func TestExportsOneTrace(t *testing.T) {
	recv := otlptest.Start(t)
	tr, err := Start(context.Background(), Flags{Endpoint: "http://" + recv.Addr}, "tracing-test")
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(tr.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), append(tr.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	h := tr.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := client.Check(r.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}))
	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := httptest.NewRequest(http.MethodGet, "/v1/x", nil)
	req.Header.Set("Traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	// The server's span ends after its answer is sent: stop the server
	// (which waits for its calls) before flushing.
	conn.Close()
	srv.GracefulStop()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spans := recv.Wait(ctx, t, func(s []otlptest.Span) bool { return len(s) >= 3 })
	var rest, clientSpan, server otlptest.Span
	for _, s := range spans {
		if s.TraceID != callerTrace {
			t.Errorf("span %q has trace %s, want the caller's %s", s.Name, s.TraceID, callerTrace)
		}
		if s.Service != "tracing-test" {
			t.Errorf("span %q from service %q", s.Name, s.Service)
		}
		if s.Name == "REST GET" {
			rest = s
		}
	}
	for _, s := range spans {
		if s.Name == "grpc.health.v1.Health/Check" && s.ParentSpanID == rest.SpanID {
			clientSpan = s
		}
	}
	for _, s := range spans {
		if s.Name == "grpc.health.v1.Health/Check" && s.ParentSpanID == clientSpan.SpanID {
			server = s
		}
	}
	if rest.ParentSpanID != "00f067aa0ba902b7" {
		t.Errorf("REST span's parent is %q, want the caller's span", rest.ParentSpanID)
	}
	if rest.Attributes["url.path"] != "/v1/x" || rest.Attributes["http.response.status_code"] != "200" {
		t.Errorf("REST span attributes %v", rest.Attributes)
	}
	if clientSpan.SpanID == "" || server.SpanID == "" {
		t.Errorf("the gRPC spans are not under the REST span: %+v", spans)
	}
}
