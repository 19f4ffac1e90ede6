package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// cliDocPath is the command reference, relative to this package.
var cliDocPath = filepath.Join("..", "..", "..", "docs", "cli.md")

// TestCLIReferenceIsCurrent fails when docs/cli.md is not what the command
// tree generates; UPDATE_CLI_DOC=1 rewrites it.
func TestCLIReferenceIsCurrent(t *testing.T) {
	want := cliReference()
	if os.Getenv("UPDATE_CLI_DOC") == "1" {
		if err := os.WriteFile(cliDocPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(cliDocPath)
	if err != nil || string(got) != want {
		t.Fatalf("docs/cli.md is stale (%v): regenerate it with\n  UPDATE_CLI_DOC=1 go test ./cmd/certbind/cli -run TestCLIReferenceIsCurrent", err)
	}
}

// cliReference renders every command of the tree, as an environment
// without any CERTBIND_ variable sees it.
func cliReference() string {
	root := newRootCmd(func(string) string { return "" })
	root.InitDefaultCompletionCmd()
	var b strings.Builder
	b.WriteString(`# certbind command reference

<!-- Generated from the command tree by TestCLIReferenceIsCurrent in
cmd/certbind/cli; do not edit. After changing a command, run
UPDATE_CLI_DOC=1 go test ./cmd/certbind/cli -run TestCLIReferenceIsCurrent -->

Every command, with its flags. ` + "`certbind COMMAND --help`" + ` says more and
gives examples. How defaults, profiles and exit statuses work is in
[Defaults and profiles](#defaults-and-profiles) and [Exit status](#exit-status).

`)
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	b.WriteString("| command | what it does |\n|---|---|\n")
	for _, c := range all[1:] {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", c.CommandPath(), anchor(c.CommandPath()), c.Short)
	}
	b.WriteString("\n## Global flags\n\nEvery command takes these:\n\n```text\n")
	b.WriteString(root.PersistentFlags().FlagUsages())
	b.WriteString("```\n\n`certbind --version` prints the version on one line; `--help` (`-h`) works everywhere.\n\n")
	config := all[0]
	for _, c := range all {
		if c.Name() == "config" && c.Parent() == root {
			config = c
		}
	}
	b.WriteString("## Defaults and profiles\n\n```text\n" + config.Long + "\n```\n\n")
	b.WriteString("## Exit status\n\n```text\n" + strings.TrimPrefix(exitCodesHelp, "Exit status:\n") + "\n```\n")
	for _, c := range all[1:] {
		fmt.Fprintf(&b, "\n## %s\n\n%s.\n\n```text\n%s\n", c.CommandPath(), strings.TrimSuffix(c.Short, "."), c.UseLine())
		if len(c.Aliases) > 0 {
			fmt.Fprintf(&b, "\nAliases: %s\n", strings.Join(c.Aliases, ", "))
		}
		if flags := c.LocalFlags().FlagUsages(); flags != "" {
			b.WriteString("\nFlags:\n" + flags)
		}
		b.WriteString("```\n")
	}
	return b.String()
}

// anchor is the heading id GitHub gives "## certbind mtls-certificate list".
func anchor(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), " ", "-")
}
