package report

import "testing"

func TestTableMarkdown(t *testing.T) {
	tests := []struct {
		name  string
		table Table
		want  string
	}{
		{
			name: "alignment and padding",
			table: Table{
				Columns: []Column{{Title: "setup"}, {Title: "req/s", Right: true}},
				Rows:    [][]string{{"direct", "1000"}, {"edge"}},
			},
			want: "| setup | req/s |\n|---|---:|\n| direct | 1000 |\n| edge |  |\n",
		},
		{
			name: "pipes and newlines are escaped",
			table: Table{
				Columns: []Column{{Title: "a|b"}},
				Rows:    [][]string{{"x|y\nz", "extra cell is dropped"}},
			},
			want: "| a\\|b |\n|---|\n| x\\|y z |\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.table.Markdown(); got != tt.want {
				t.Errorf("Markdown() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
