package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release version. A release build sets it with
// -ldflags "-X github.com/certbind/certbind/cmd/certbind/cli.version=v1.2.0";
// otherwise the module version from the build info is shown.
var version = ""

// buildInfo is what "certbind version" prints.
type buildInfo struct {
	Version string `json:"version"`
	// Commit is the git revision the binary was built from, "unknown" when
	// the build did not record one (go build -buildvcs=false, a tarball).
	Commit string `json:"commit"`
	// Modified is true when the checkout had uncommitted changes.
	Modified  bool   `json:"modified"`
	GoVersion string `json:"goVersion"`
}

// readBuildInfo reads the version, commit and Go version that the Go
// toolchain recorded in the binary.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: "unknown", GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		b.GoVersion = info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" || b.Version == "(devel)" {
		b.Version = "devel"
	}
	return b
}

// line is the build info on one line, as --version prints it.
func (b buildInfo) line() string {
	commit := b.Commit
	if b.Modified {
		commit += ", modified"
	}
	return fmt.Sprintf("certbind %s (commit %s, %s)", b.Version, commit, b.GoVersion)
}

func (b buildInfo) write(w io.Writer, format OutputFormat) error {
	if format == OutputJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	modified := "no"
	if b.Modified {
		modified = "yes (built from a checkout with uncommitted changes)"
	}
	_, err := fmt.Fprintf(w, "Version:   %s\nCommit:    %s\nModified:  %s\nGo:        %s\n", b.Version, b.Commit, modified, b.GoVersion)
	return err
}

func newVersionCmd(g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the version, commit and Go version of this certbind",
		Long: `Prints the version of this certbind binary, the git commit it was built
from (and whether that checkout had uncommitted changes) and the Go version
that built it, as the Go toolchain recorded them. "certbind --version" prints
the same on one line. A build without version control information (go build
-buildvcs=false) shows the commit as "unknown".`,
		Example: `  certbind version
  certbind version --output json | jq -r .commit`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return readBuildInfo().write(cmd.OutOrStdout(), g.Output)
		},
	}
}
