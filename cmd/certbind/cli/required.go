package cli

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A flag whose help says "(required" (as in "(required)" or "(required;
// repeat ...)") is required: markRequired marks it so for cobra, which
// completes such flags first, and checkRequired reports every one missing
// in a single error, so that nobody learns them one run at a time. The help
// text is the one place that says a flag is required, so the check cannot
// drift from it.
const requiredMarker = "(required"

// markRequired marks the required flags of cmd and of every command under it.
func markRequired(cmd *cobra.Command) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if strings.Contains(f.Usage, requiredMarker) {
			_ = cobra.MarkFlagRequired(cmd.Flags(), f.Name) // the flag exists: it is being visited
		}
	})
	for _, sub := range cmd.Commands() {
		markRequired(sub)
	}
}

func isRequired(f *pflag.Flag) bool {
	v, ok := f.Annotations[cobra.BashCompOneRequiredFlag]
	return ok && len(v) > 0 && v[0] == "true"
}

// checkRequired returns one usage error naming every required flag of cmd
// that was not given, each with its help, or nil when none is missing.
// Flags that defaults filled in (--account from CERTBIND_ACCOUNT, say) count
// as given.
func checkRequired(cmd *cobra.Command) error {
	var missing []*pflag.Flag
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if isRequired(f) && !f.Changed {
			missing = append(missing, f)
		}
	})
	if len(missing) == 0 {
		return nil
	}
	hint := ""
	for _, f := range missing {
		if f.Name == "account" || f.Name == "project" {
			hint = fmt.Sprintf("\n(--account and --project may also come from %s and %s, or from a profile: see %q)",
				EnvAccount, EnvProject, "certbind config --help")
			break
		}
	}
	if len(missing) == 1 {
		f := missing[0]
		return usageErrorf("--%s is required: %s (see %q)%s", f.Name, withoutMarker(f.Usage), cmd.CommandPath()+" --help", hint)
	}
	names := make([]string, len(missing))
	width := 0
	for i, f := range missing {
		names[i] = "--" + f.Name
		width = max(width, len(names[i]))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s and %s are required (see %q):", strings.Join(names[:len(names)-1], ", "), names[len(names)-1],
		cmd.CommandPath()+" --help")
	for i, f := range missing {
		fmt.Fprintf(&b, "\n  %-*s  %s", width, names[i], withoutMarker(f.Usage))
	}
	b.WriteString(hint)
	return usageError(fmt.Errorf("%s", b.String()))
}

var markerText = regexp.MustCompile(`\s*\(required\)|required; `)

// withoutMarker is a flag's help without the words that say it is required.
func withoutMarker(usage string) string {
	return markerText.ReplaceAllString(usage, "")
}
