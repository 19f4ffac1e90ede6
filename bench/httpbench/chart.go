package httpbench

import (
	"fmt"
	"math"

	"github.com/certbind/certbind/bench/report"
)

// SVG returns a grouped bar chart of requests per second: a panel per
// response size, a group per concurrency, a bar per setup.
func (r *Results) SVG() []byte {
	var series []string
	for _, s := range Setups {
		for _, row := range r.Rows {
			if row.Setup == s {
				series = append(series, s)
				break
			}
		}
	}
	c := report.BarChart{
		Title:  "Requests per second to an mTLS backend through each setup (higher is better)",
		YLabel: "requests/s",
		Series: series,
	}
	for _, size := range r.sizes() {
		p := report.Panel{Title: fmt.Sprintf("%s responses (%d B)", size.Name, size.Bytes)}
		for _, conc := range r.concurrencies() {
			g := report.Group{Label: fmt.Sprintf("%d clients", conc)}
			for _, s := range series {
				v := math.NaN()
				if row := r.find(s, size.Name, conc); row != nil {
					v = row.RequestsPerSec
				}
				g.Values = append(g.Values, v)
			}
			p.Groups = append(p.Groups, g)
		}
		c.Panels = append(c.Panels, p)
	}
	return c.SVG()
}
