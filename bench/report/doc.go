// Package report renders benchmark results for people: Markdown tables for
// the written report and SVG bar charts for the figures. It knows nothing
// about what was measured; the benchmarks turn their results into a Table
// or a BarChart and call Markdown or SVG.
package report
