// Package restapi is certbind's REST facade: grpc-gateway handlers that turn
// JSON over HTTP into calls on certmgr's gRPC services, the OpenAPI document
// at /openapi.json and a /healthz that asks certmgr's health service.
//
// The facade holds no state and checks no keys itself: it forwards the
// Authorization header and certmgr decides.
package restapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/tracing"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/proto/openapi"
)

// DefaultMaxBodyBytes bounds request bodies. The largest legitimate body is
// an upload: 64 KiB of chain, 16 KiB of key, or 128 KiB of PKCS#12 in base64.
const DefaultMaxBodyBytes = 1 << 20

// Config configures the facade.
type Config struct {
	// Certmgr and Deploytracker are connections to the services' gRPC
	// servers (the same connection when one server carries both).
	Certmgr       grpc.ClientConnInterface
	Deploytracker grpc.ClientConnInterface
	// Logger receives one access line per request. nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Tracing gives every request a span continuing the caller's
	// traceparent; the connections above carry it on (their dial options
	// come from the same Tracing). nil is off.
	Tracing *tracing.Tracing
}

// New returns the facade's handler.
func New(ctx context.Context, cfg Config) (http.Handler, error) {
	if cfg.Certmgr == nil || cfg.Deploytracker == nil {
		return nil, errors.New("restapi: no certmgr or deploytracker connection")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	limit := cfg.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(errorHandler),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithHealthzEndpoint(healthpb.NewHealthClient(cfg.Certmgr)),
	)
	if err := certmgrv1.RegisterCertificateServiceHandlerClient(ctx, mux, certmgrv1.NewCertificateServiceClient(cfg.Certmgr)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := certmgrv1.RegisterApiKeyServiceHandlerClient(ctx, mux, certmgrv1.NewApiKeyServiceClient(cfg.Certmgr)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := certmgrv1.RegisterMasterKeyServiceHandlerClient(ctx, mux, certmgrv1.NewMasterKeyServiceClient(cfg.Certmgr)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := deploytrackerv1.RegisterDeploymentServiceHandlerClient(ctx, mux, deploytrackerv1.NewDeploymentServiceClient(cfg.Deploytracker)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := certmgrv1.RegisterAuditServiceHandlerClient(ctx, mux, certmgrv1.NewAuditServiceClient(cfg.Certmgr)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := certmgrv1.RegisterWebhookServiceHandlerClient(ctx, mux, certmgrv1.NewWebhookServiceClient(cfg.Certmgr)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := certmgrv1.RegisterVerifyServiceHandlerClient(ctx, mux, certmgrv1.NewVerifyServiceClient(cfg.Certmgr)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := deploytrackerv1.RegisterVerifyServiceHandlerClient(ctx, mux, deploytrackerv1.NewVerifyServiceClient(cfg.Deploytracker)); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := handleBackups(mux, log, cfg.Certmgr, cfg.Deploytracker); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	if err := mux.HandlePath(http.MethodGet, "/openapi.json", serveOpenAPI); err != nil {
		return nil, fmt.Errorf("restapi: %w", err)
	}
	return cfg.Tracing.HTTP(accessLog(log, markAnswers(limitBody(limit, mux)))), nil
}

// Header marks every answer of the REST API, errors included, with the
// value HeaderValue, so that a client can tell the API from another server
// at the same URL (the edge, a proxy's error page) and say so.
const (
	Header      = "Certbind-Api"
	HeaderValue = "v1"
)

func markAnswers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(Header, HeaderValue)
		next.ServeHTTP(w, r)
	})
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapi.JSON)
}

// errorHandler is grpc-gateway's default with two changes: FailedPrecondition
// (a delete refused because deployments reference the certificate) is 409
// Conflict rather than 400, since the request was well formed; and a body
// that does not decode is described without quoting it (decodeError).
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	switch st, _ := status.FromError(err); {
	case st.Code() == codes.FailedPrecondition:
		err = &runtime.HTTPStatusError{HTTPStatus: http.StatusConflict, Err: err}
	case st.Code() == codes.InvalidArgument && strings.HasPrefix(st.Message(), "proto:"):
		err = status.Error(codes.InvalidArgument, decodeError(st.Message()))
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

var (
	decodePosition = regexp.MustCompile(`\(line (\d+:\d+)\)`)
	decodeField    = regexp.MustCompile(`invalid value for (\w+) field (\w+)`)
	// unknownField matches a misspelt field name short enough to be one;
	// anything longer is more likely pasted content and is not repeated.
	unknownField = regexp.MustCompile(`unknown field "([A-Za-z_][A-Za-z0-9_]{0,31})"`)
)

// decodeError rewrites a protojson error about the request body. protojson
// quotes the offending value or token, and what users paste into the wrong
// field is often a private key or a PKCS#12 file, so the message keeps only
// what comes from the API's schema (the position, the field and its type)
// and never a byte of the input.
func decodeError(msg string) string {
	out := "the request body is not valid JSON for this request"
	if m := decodePosition.FindStringSubmatch(msg); m != nil {
		out += " at line " + m[1]
	}
	m := decodeField.FindStringSubmatch(msg)
	switch {
	case m != nil && m[1] == "bytes":
		out += fmt.Sprintf(": the value of %s is not base64; a file field takes the file's content in base64 (e.g. `base64 -w0 client.p12`), and PEM text goes in the PEM fields", m[2])
	case m != nil:
		out += fmt.Sprintf(": the value of %s is not a valid %s", m[2], m[1])
	case unknownField.MatchString(msg):
		out += fmt.Sprintf(": it has a field %q, which this request does not take; check the field names against /openapi.json", unknownField.FindStringSubmatch(msg)[1])
	case strings.Contains(msg, "unknown field"):
		out += ": it has a field this request does not take; check the field names against /openapi.json"
	}
	return out + " (the value sent is not repeated here, since it may be key material)"
}

// limitBody answers 413 for a body announced larger than n, and cuts off a
// chunked body at n (grpc-gateway then answers 400 "request body too large").
func limitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			fmt.Fprintf(w, `{"code":%d,"message":"request body of %d bytes is larger than the limit of %d bytes","details":[]}`,
				codes.InvalidArgument, r.ContentLength, n)
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the backup
// download lifts the write deadline).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog writes one line per request: method, path, status, duration.
// Never headers or bodies: they carry keys. A successful health check is
// logged at debug level: probes call it every few seconds, and at info
// their lines would bury everything else.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if r.URL.Path == healthPath && rec.status == http.StatusOK {
			level = slog.LevelDebug
		}
		log.LogAttrs(r.Context(), level, "http", slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("duration", time.Since(start)))
	})
}

// healthPath is where grpc-gateway's health endpoint answers.
const healthPath = "/healthz"

// NewServer returns the HTTP server for the facade's handler, with header,
// read and write timeouts and a header size limit.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}
