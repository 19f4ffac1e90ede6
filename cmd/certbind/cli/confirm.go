package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// confirmOptions is the --yes of a command that asks before it destroys.
type confirmOptions struct {
	Yes bool
}

// AddFlags registers --yes.
func (o *confirmOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation on a terminal")
}

// confirmHelp is what the help of such a command says about confirmation.
const confirmHelp = `On a terminal it asks for confirmation first (--yes skips the question).
Without a terminal (a script, a pipe, CI) it never asks and goes ahead, as
before, so scripts keep working.`

// errNotConfirmed is the answer "no" to a confirmation.
var errNotConfirmed = errors.New("nothing was deleted: the answer was not yes (--yes skips the question)")

// confirm asks question, which ends in "?", and returns nil if the answer
// is yes. It asks only when both stdin and stderr are terminals, since a
// question nobody sees or can answer would hang a script; otherwise, and
// with --yes, it returns nil at once.
func (o *confirmOptions) confirm(cmd *cobra.Command, question string) error {
	if !o.asks(cmd) {
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s [y/N] ", question)
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}

// asks reports whether confirm would ask.
func (o *confirmOptions) asks(cmd *cobra.Command) bool {
	return !o.Yes && isTerminal(cmd.InOrStdin()) && isTerminal(cmd.ErrOrStderr())
}

// isTerminal reports whether v is a file open on a terminal.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
