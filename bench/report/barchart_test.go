package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

func TestBarChartSVGIsWellFormed(t *testing.T) {
	c := BarChart{
		Title:  `HTTP <throughput> & "latency"`,
		YLabel: "requests/s",
		Series: []string{"direct", "certbind edge", "nginx", "caddy"},
		Panels: []Panel{
			{Title: "small", Groups: []Group{{Label: "16 clients", Values: []float64{41234, 20111, 25000, 18000}}, {Label: "64 clients", Values: []float64{40000, 21000, math.NaN(), 17000}}}},
			{Title: "64KiB", Groups: []Group{{Label: "16 clients", Values: []float64{9000, 4000}}}},
		},
	}
	svg := c.SVG()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	var rects int
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Local == "rect" {
				rects++
			}
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); s != "" {
				texts = append(texts, s)
			}
		}
	}
	all := strings.Join(texts, "\n")
	for _, want := range []string{c.Title, "requests/s", "certbind edge", "64KiB", "16 clients", "41k", "n/a"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
	// Background, four legend swatches, and one bar per present value.
	if want := 1 + 4 + 7 + 2; rects != want {
		t.Errorf("SVG has %d rects, want %d", rects, want)
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct{ raw, want float64 }{
		{0, 1}, {0.7, 1}, {1, 1}, {1.1, 2}, {3, 5}, {7, 10}, {1234, 2000}, {45000, 50000},
	}
	for _, tt := range tests {
		if got := niceStep(tt.raw); got != tt.want {
			t.Errorf("niceStep(%v) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestFormatCount(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {950.4, "950"}, {1000, "1k"}, {1260, "1.3k"}, {12345, "12k"}, {1.2e6, "1.2M"},
	}
	for _, tt := range tests {
		if got := FormatCount(tt.v); got != tt.want {
			t.Errorf("FormatCount(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
