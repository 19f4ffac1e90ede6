package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strings"
)

// BarChart is a grouped bar chart. It is drawn as panels side by side, each
// with its own y axis starting at zero, so that results of very different
// magnitudes (small and large responses, say) stay readable. In a panel
// the groups run along the x axis, and each group has one bar per series,
// coloured as in the legend.
type BarChart struct {
	Title  string
	YLabel string   // the y axis of every panel, e.g. "requests/s"
	Series []string // the legend, in bar order
	Panels []Panel
}

// Panel is one part of a BarChart with its own y scale.
type Panel struct {
	Title  string
	Groups []Group
}

// Group is a cluster of bars under one x label. Values[i] belongs to
// Series[i]; NaN marks a series that has no value here, drawn as "n/a".
type Group struct {
	Label  string
	Values []float64
}

// Geometry of the chart, in SVG user units (pixels at 100%).
const (
	barWidth    = 24
	barGap      = 3
	groupGap    = 28
	plotHeight  = 280
	axisWidth   = 80 // left of each plot: tick labels and the y label
	panelGap    = 24
	titleHeight = 36
	legendRow   = 26
	panelTitle  = 26
	xLabels     = 44
	fontFamily  = "Helvetica, Arial, sans-serif"
)

// palette holds distinct colours that stay distinct when printed in grey.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// SVG returns the chart as a standalone SVG document.
func (c BarChart) SVG() []byte {
	n := max(len(c.Series), 1)
	groupWidth := n*(barWidth+barGap) - barGap
	panelWidths := make([]int, len(c.Panels))
	width := panelGap
	for i, p := range c.Panels {
		panelWidths[i] = axisWidth + groupGap + max(len(p.Groups), 1)*(groupWidth+groupGap)
		width += panelWidths[i] + panelGap
	}
	width = max(width, 480)
	top := titleHeight + legendRow + panelTitle
	height := top + plotHeight + xLabels

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`+"\n",
		width, height, width, height, fontFamily)
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(c.Title))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" text-anchor="middle" font-size="16" font-weight="bold">%s</text>`+"\n", width/2, esc(c.Title))
	c.legend(&b, titleHeight+legendRow/2)
	x := panelGap
	for i, p := range c.Panels {
		c.panel(&b, p, x, top, groupWidth)
		x += panelWidths[i] + panelGap
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// legend draws a swatch and a name per series, in one row.
func (c BarChart) legend(b *bytes.Buffer, y int) {
	x := panelGap + axisWidth
	for i, s := range c.Series {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, y-6, color(i))
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x+16, y+4, esc(s))
		x += 16 + 7*len(s) + 24
	}
}

// panel draws one panel whose plot area starts at (x+axisWidth, top).
func (c BarChart) panel(b *bytes.Buffer, p Panel, x, top, groupWidth int) {
	hi := 0.0
	for _, g := range p.Groups {
		for _, v := range g.Values {
			if !math.IsNaN(v) && v > hi {
				hi = v
			}
		}
	}
	// Room above the tallest bar for its value, written upwards.
	step := niceStep(hi * 1.25 / 5)
	yMax := step * math.Ceil(hi*1.25/step)
	plotX := x + axisWidth
	plotWidth := groupGap + max(len(p.Groups), 1)*(groupWidth+groupGap)
	bottom := top + plotHeight
	yOf := func(v float64) float64 { return float64(bottom) - v/yMax*plotHeight }

	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n",
		plotX+plotWidth/2, top-10, esc(p.Title))
	// Grid lines and tick labels.
	for v := 0.0; v <= yMax+step/2; v += step {
		y := yOf(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", plotX, y, plotX+plotWidth, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", plotX-6, y+4, esc(FormatCount(v)))
	}
	// The y label, written upwards along the axis.
	fmt.Fprintf(b, `<text transform="translate(%d %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n",
		x+14, top+plotHeight/2, esc(c.YLabel))
	for gi, g := range p.Groups {
		gx := plotX + groupGap + gi*(groupWidth+groupGap)
		for si := range c.Series {
			bx := gx + si*(barWidth+barGap)
			cx := float64(bx) + barWidth/2.0
			v := math.NaN()
			if si < len(g.Values) {
				v = g.Values[si]
			}
			label := "n/a"
			ly := float64(bottom) - 4
			if !math.IsNaN(v) {
				y := yOf(v)
				fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
					bx, y, barWidth, float64(bottom)-y, color(si), esc(c.Series[si]), esc(g.Label), esc(FormatCount(v)))
				label, ly = FormatCount(v), y-4
			}
			fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" font-size="11">%s</text>`+"\n", cx+4, ly, esc(label))
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", gx+groupWidth/2, bottom+20, esc(g.Label))
	}
	// Axes last, over the bars' edges.
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotX, top, plotX, bottom)
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", plotX, bottom, plotX+plotWidth, bottom)
}

// niceStep returns the smallest of 1, 2 or 5 times a power of ten that is
// at least raw, so that ticks fall on round numbers.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*pow >= raw {
			return m * pow
		}
	}
	return 10 * pow
}

// FormatCount writes a count compactly: 950, 12.3k, 45k, 1.2M.
func FormatCount(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

func color(i int) string { return palette[i%len(palette)] }

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
