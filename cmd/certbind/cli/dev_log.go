package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/term"
)

// Log formats of `certbind dev`.
const (
	logFormatAuto = "auto"
	logFormatText = "text"
	logFormatJSON = "json"
)

// newDevLogger returns the logger of `certbind dev` writing to out in
// format: text (one human-readable line per record) or json (slog's JSON
// lines, for tools); auto picks text when out is a terminal and json
// otherwise. Debug records, such as the REST API's health checks, are
// left out.
func newDevLogger(out io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case logFormatAuto, "":
		if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = logFormatText
		} else {
			format = logFormatJSON
		}
	case logFormatText, logFormatJSON:
	default:
		return nil, fmt.Errorf("--log-format %q is not known: use text, json or auto (text on a terminal, json otherwise)", format)
	}
	if format == logFormatText {
		return slog.New(newTextLogHandler(out, slog.LevelInfo)), nil
	}
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})), nil
}

// textLogHandler writes a record as one line for a person to read:
//
//	19:20:01.123 INFO  http service=restapi method=GET path=/v1/... status=200 duration=1.2ms
//
// The time is local and to the millisecond, durations are rounded to two
// or three significant digits, and a value with spaces, quotes or '=' is
// quoted, so that each line still splits into key=value fields.
type textLogHandler struct {
	mu    *sync.Mutex
	out   io.Writer
	level slog.Leveler
	attrs string // pre-formatted " k=v" fields of With
	group string // prefix of keys from WithGroup, e.g. "req."
}

func newTextLogHandler(out io.Writer, level slog.Leveler) *textLogHandler {
	return &textLogHandler{mu: &sync.Mutex{}, out: out, level: level}
}

func (h *textLogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *textLogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if !r.Time.IsZero() {
		b.WriteString(r.Time.Local().Format("15:04:05.000"))
		b.WriteByte(' ')
	}
	fmt.Fprintf(&b, "%-5s %s", r.Level.String(), r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeTextAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.out, b.String())
	return err
}

func (h *textLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range attrs {
		writeTextAttr(&b, h.group, a)
	}
	h2 := *h
	h2.attrs += b.String()
	return &h2
}

func (h *textLogHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group += name + "."
	return &h2
}

// writeTextAttr appends " key=value" for a, or one such field per member
// of a group.
func writeTextAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if v.Kind() == slog.KindGroup {
		if a.Key != "" {
			prefix += a.Key + "."
		}
		for _, m := range v.Group() {
			writeTextAttr(b, prefix, m)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(quoteIfNeeded(textValue(v)))
}

func textValue(v slog.Value) string {
	switch v.Kind() {
	case slog.KindDuration:
		return formatDuration(v.Duration())
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return err.Error()
		}
		if d, ok := v.Any().(time.Duration); ok {
			return formatDuration(d)
		}
	}
	return v.String()
}

// formatDuration rounds d for reading: 850µs, 1.2ms, 35ms, 2.35s, 1m30s.
func formatDuration(d time.Duration) string {
	abs := d.Abs()
	switch {
	case abs < time.Microsecond:
		return d.String()
	case abs < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case abs < 10*time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	case abs < time.Second:
		return d.Round(time.Millisecond).String()
	case abs < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// quoteIfNeeded quotes s when it is empty or would not read back as one
// field: spaces, quotes, '=', or characters that do not print.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r == '=' || r == '"' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
