package report

import "strings"

// Column is a table column. Numeric columns read best aligned right.
type Column struct {
	Title string
	Right bool
}

// Table is a Markdown table. A row shorter than Columns is padded with
// empty cells; a longer one is cut.
type Table struct {
	Columns []Column
	Rows    [][]string
}

// Markdown returns the table in GitHub-flavoured Markdown, one line per row
// and a trailing newline. A "|" in a cell is escaped so that it cannot
// split the cell.
func (t Table) Markdown() string {
	var b strings.Builder
	b.WriteString("|")
	for _, c := range t.Columns {
		b.WriteString(" " + escapeCell(c.Title) + " |")
	}
	b.WriteString("\n|")
	for _, c := range t.Columns {
		if c.Right {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, row := range t.Rows {
		b.WriteString("|")
		for i := range t.Columns {
			cell := ""
			if i < len(row) {
				cell = row[i]
			}
			b.WriteString(" " + escapeCell(cell) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
