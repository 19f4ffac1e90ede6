// Command certbind is the command-line client of the certbind suite: it
// uploads and manages mTLS certificates and API keys through the REST facade,
// and runs the whole suite locally with "certbind dev".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/certbind/certbind/cmd/certbind/cli"
)

func main() {
	// Ctrl-C cancels the context, so a request in flight is abandoned cleanly
	// instead of the process being killed mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		// The status says what kind of error it was (see "certbind --help").
		os.Exit(cli.ExitCode(err))
	}
}
