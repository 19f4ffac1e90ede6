package httpbench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func sampleResults() *Results {
	r := &Results{Duration: 8 * time.Second, Warmup: time.Second, CPUs: 2, Platform: "linux/amd64", GoVersion: "go1.26.0",
		Versions: map[string]string{SetupNginx: "nginx/1.22.1"},
		Skipped:  []Skip{{Setup: SetupCaddy, Reason: "caddy is not installed"}}}
	for _, conc := range []int{16, 64} {
		for _, size := range Sizes {
			for i, s := range []string{SetupDirect, SetupEdge, SetupNginx} {
				r.Rows = append(r.Rows, Row{Setup: s, Size: size.Name, Concurrency: conc,
					RequestsPerSec: float64(1000 * (3 - i)), P50: time.Duration(i+1) * time.Millisecond,
					P99: time.Duration(i+1) * 4 * time.Millisecond, HandshakesPer1000: 0.5, FullHandshakes: 3, ResumedHandshakes: 1,
					ProxyCPUPerRequest: time.Duration(10*i) * time.Microsecond, ProxySystemPerRequest: time.Duration(4*i) * time.Microsecond})
			}
		}
	}
	return r
}

func TestMarkdown(t *testing.T) {
	md := sampleResults().Markdown()
	for _, want := range []string{
		"### small responses (64 B)",
		"### 64KiB responses (65536 B)",
		"| clients | edge/nginx req/s | edge/nginx p99 | edge/nginx CPU/req | edge/caddy req/s | edge/caddy p99 | edge/caddy CPU/req |",
		// edge 2000 req/s, p99 8ms and 10 µs of CPU against nginx's 1000,
		// 12ms and 20 µs; no caddy.
		"| 16 | 2.00 | 0.67 | 0.50 | n/a | n/a | n/a |",
		"| certbind edge | 64 | 2000 | 2.00 ms | 8.00 ms | 0 | 0.50 | 3 + 1 | 10.0 µs | 4.0 µs |",
		// direct has no proxy.
		"| direct | 16 | 3000 | 1.00 ms | 4.00 ms | 0 | 0.50 | 3 + 1 | - | - |",
		"- caddy: caddy is not installed",
		"nginx: nginx/1.22.1",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// Per size, the 16-client runs come before the 64-client ones.
	small := md[strings.Index(md, "### small"):strings.Index(md, "### 64KiB")]
	if strings.Index(small, "| direct | 16 |") > strings.Index(small, "| direct | 64 |") {
		t.Errorf("runs are not ordered by concurrency:\n%s", small)
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	svg := sampleResults().SVG()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok {
			text.Write(cd)
			text.WriteString("\n")
		}
	}
	for _, want := range []string{"requests/s", "certbind edge", "nginx", "small responses (64 B)", "64 clients"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("SVG lacks the label %q", want)
		}
	}
	if strings.Contains(text.String(), "caddy") {
		t.Errorf("SVG has a caddy series although caddy was not measured")
	}
}

func TestFmtLatency(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{420 * time.Microsecond, "0.42 ms"}, {12340 * time.Microsecond, "12.3 ms"}, {250 * time.Millisecond, "250 ms"},
	}
	for _, tt := range tests {
		if got := fmtLatency(tt.d); got != tt.want {
			t.Errorf("fmtLatency(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
