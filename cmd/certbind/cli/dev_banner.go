package cli

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Where `certbind dev` tells a user to find the certbind command.
const (
	cliInCheckout = "checkout" // the working directory is a certbind checkout
	cliOnPath     = "path"     // certbind is on PATH already
	cliElsewhere  = "elsewhere"
)

// devBanner is what `certbind dev` prints once it is running.
type devBanner struct {
	HTTPURL, GRPCAddr, EdgeURL, EdgeAdminURL, MetricsURL string
	DataDir                                              string // absolute
	AdminKey, AdminKeyFile                               string
	AdminKeyCreated                                      bool
	// KeyFromEnv says the admin key came from CERTBIND_API_KEY or
	// --api-key, so it is neither printed nor stored.
	KeyFromEnv bool
	// CLI is one of cliInCheckout, cliOnPath or cliElsewhere; Executable
	// is this program's path, for cliElsewhere.
	CLI, Executable string
}

// findCLI says how a user in dir can run the certbind command: from the
// checkout dir is one of, from PATH, or by this program's own path.
func findCLI(dir string) (where, executable string) {
	if _, err := os.Stat(filepath.Join(dir, "cmd", "certbind", "main.go")); err == nil {
		return cliInCheckout, ""
	}
	if _, err := exec.LookPath("certbind"); err == nil {
		return cliOnPath, ""
	}
	exe, _ := os.Executable()
	return cliElsewhere, exe
}

// Example account and project that the banner's exports suggest.
const (
	devExampleAccount = "acme"
	devExampleProject = "shop"
)

func (b devBanner) write(w io.Writer) error {
	var s strings.Builder
	s.WriteString("certbind dev is running\n\n")
	fmt.Fprintf(&s, "  REST API   %s   (OpenAPI document: %s/openapi.json)\n", b.HTTPURL, b.HTTPURL)
	fmt.Fprintf(&s, "  gRPC       %s   (certmgr and deploytracker; grpcurl works, reflection is on)\n", b.GRPCAddr)
	fmt.Fprintf(&s, "  edge       %s   (deployments at %s/ACCOUNT/PROJECT/ENVIRONMENT/...)\n", b.EdgeURL, b.EdgeURL)
	fmt.Fprintf(&s, "  edge admin %s   (/v1/status, /healthz, /metrics)\n", b.EdgeAdminURL)
	if b.MetricsURL != "" {
		fmt.Fprintf(&s, "  metrics    %s/metrics   (certmgr, deploytracker and REST API)\n", b.MetricsURL)
	}
	fmt.Fprintf(&s, "  data dir   %s\n", b.DataDir)
	switch {
	case b.KeyFromEnv:
		s.WriteString("  admin key  from CERTBIND_API_KEY / --api-key\n")
	case b.AdminKeyCreated:
		fmt.Fprintf(&s, "  admin key  %s   (new; stored in %s)\n", b.AdminKey, b.AdminKeyFile)
	default:
		fmt.Fprintf(&s, "  admin key  %s   (from %s)\n", b.AdminKey, b.AdminKeyFile)
	}

	s.WriteString("\nTo use the CLI, open another shell")
	switch b.CLI {
	case cliInCheckout:
		s.WriteString(" in this directory and build it onto your PATH:\n")
		s.WriteString("  go build -o bin/certbind ./cmd/certbind\n")
		s.WriteString("  export PATH=\"$PWD/bin:$PATH\"\n")
		s.WriteString("(or run it without building, as go run ./cmd/certbind ... in place of certbind ...)\n")
	case cliOnPath:
		s.WriteString(": certbind is on your PATH.\n")
	default:
		fmt.Fprintf(&s, " and put this program on your PATH:\n  export PATH=%s:\"$PATH\"\n", shellQuote(filepath.Dir(b.Executable)))
	}
	s.WriteString("\nPaste these lines there:\n")
	fmt.Fprintf(&s, "  export %s=%s\n", EnvAPIURL, shellQuote(b.HTTPURL))
	if b.KeyFromEnv {
		fmt.Fprintf(&s, "  export %s=...   (the admin key this suite was started with)\n", EnvAPIKey)
	} else {
		fmt.Fprintf(&s, "  export %s=%s\n", EnvAPIKey, shellQuote(b.AdminKey))
	}
	fmt.Fprintf(&s, "  export CERTBIND_ACCOUNT=%s\n", devExampleAccount)
	fmt.Fprintf(&s, "  export CERTBIND_PROJECT=%s\n", devExampleProject)
	s.WriteString("and try:\n  certbind mtls-certificate list\n")
	s.WriteString("\nLogs go to stderr. Press Ctrl-C to stop.\n")
	_, err := io.WriteString(w, s.String())
	return err
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// characters that are safe bare.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+=,", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
