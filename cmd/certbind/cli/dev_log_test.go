package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{850 * time.Nanosecond, "850ns"},
		{850123 * time.Nanosecond, "850µs"},
		{1234567 * time.Nanosecond, "1.2ms"},
		{12345678 * time.Nanosecond, "12ms"},
		{2345678901 * time.Nanosecond, "2.35s"},
		{90*time.Second + 400*time.Millisecond, "1m30s"},
		{-1234567 * time.Nanosecond, "-1.2ms"},
	} {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%d) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestTextLogLine checks the line the text handler writes: local time to
// the millisecond, the level, the message, then key=value fields with the
// logger's own first, groups as dotted keys, durations rounded and values
// that would not read back as one field quoted.
func TestTextLogLine(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newTextLogHandler(&buf, slog.LevelInfo)).With(slog.String("service", "restapi"))
	log.Info("http", slog.String("method", "GET"), slog.String("path", "/v1/api-keys"), slog.Int("status", 200),
		slog.Duration("duration", 1234567*time.Nanosecond))
	log.WithGroup("req").Warn("slow backend", slog.Any("error", errors.New(`dial "b": refused`)), slog.String("empty", ""),
		slog.Group("tls", slog.Bool("resumed", true)), slog.String("note", "a=b"))
	log.Debug("health check")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} INFO  http service=restapi method=GET path=/v1/api-keys status=200 duration=1\.2ms$`),
		regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} WARN  slow backend service=restapi req\.error="dial \\"b\\": refused" req\.empty="" req\.tls\.resumed=true req\.note="a=b"$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("lines:\n%s\nwant %d (debug left out)", buf.String(), len(want))
	}
	for i, re := range want {
		if !re.MatchString(lines[i]) {
			t.Errorf("line %d = %q, want it to match %s", i, lines[i], re)
		}
	}
}

// TestDevLoggerFormat checks the choice of format: json for a file or a
// pipe (auto), text or json when asked, and a clear error otherwise.
func TestDevLoggerFormat(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tt := range []struct {
		format string
		json   bool
	}{{"auto", true}, {"", true}, {"json", true}, {"text", false}} {
		var buf bytes.Buffer
		log, err := newDevLogger(&buf, tt.format)
		if err != nil {
			t.Fatal(err)
		}
		log.Info("started", slog.Duration("took", time.Millisecond))
		if isJSON := json.Valid(buf.Bytes()); isJSON != tt.json {
			t.Errorf("--log-format %q to a buffer: %q, want JSON %v", tt.format, buf.String(), tt.json)
		}
	}
	log, err := newDevLogger(f, "auto")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("started")
	if data, _ := os.ReadFile(f.Name()); !json.Valid(data) {
		t.Errorf("auto to a file wrote %q, want JSON", data)
	}
	if _, err := newDevLogger(f, "pretty"); err == nil || !strings.Contains(err.Error(), `--log-format "pretty" is not known: use text, json or auto`) {
		t.Errorf("unknown format: %v", err)
	}
}

// TestDevBanner checks what the banner tells a user in a checkout, with
// certbind on PATH, and elsewhere, and that it prints a key it was given
// through the environment nowhere.
func TestDevBanner(t *testing.T) {
	base := devBanner{HTTPURL: "http://127.0.0.1:18080", GRPCAddr: "127.0.0.1:19090", EdgeURL: "http://127.0.0.1:18000",
		EdgeAdminURL: "http://127.0.0.1:18001", DataDir: "/home/me/certbind/.certbind", AdminKey: "cbk_secretsecret",
		AdminKeyFile: ".certbind/admin.key", AdminKeyCreated: true}
	tests := []struct {
		name          string
		edit          func(b *devBanner)
		want, notWant []string
	}{
		{"checkout", func(b *devBanner) { b.CLI = cliInCheckout }, []string{
			"  REST API   http://127.0.0.1:18080   (OpenAPI document: http://127.0.0.1:18080/openapi.json)\n",
			"  admin key  cbk_secretsecret   (new; stored in .certbind/admin.key)\n",
			"  go build -o bin/certbind ./cmd/certbind\n  export PATH=\"$PWD/bin:$PATH\"\n",
			"go run ./cmd/certbind ...",
			"  export CERTBIND_API_URL=http://127.0.0.1:18080\n  export CERTBIND_API_KEY=cbk_secretsecret\n  export CERTBIND_ACCOUNT=acme\n  export CERTBIND_PROJECT=shop\n",
			"  certbind mtls-certificate list\n",
		}, nil},
		{"on PATH", func(b *devBanner) { b.CLI = cliOnPath }, []string{"certbind is on your PATH."}, []string{"go build"}},
		{"elsewhere", func(b *devBanner) { b.CLI, b.Executable = cliElsewhere, "/opt/cert bind/certbind" }, []string{
			`  export PATH='/opt/cert bind':"$PATH"` + "\n",
		}, []string{"go build"}},
		{"key from the environment", func(b *devBanner) { b.CLI, b.KeyFromEnv = cliInCheckout, true }, []string{
			"  admin key  from CERTBIND_API_KEY / --api-key\n",
			"  export CERTBIND_API_KEY=...   (the admin key this suite was started with)\n",
		}, []string{"cbk_secretsecret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			tt.edit(&b)
			var out strings.Builder
			if err := b.write(&out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("banner lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("banner has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080": "http://127.0.0.1:8080",
		"/usr/local/bin":        "/usr/local/bin",
		"/opt/my dir":           "'/opt/my dir'",
		"it's":                  `'it'\''s'`,
		"":                      "''",
		"$HOME":                 "'$HOME'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
