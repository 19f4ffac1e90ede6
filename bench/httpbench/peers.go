package httpbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// peer is a proxy certbind is compared with, run from its Debian package.
type peer struct {
	setup   string
	binary  string
	pkg     string // the Debian package that installs binary
	version []string
	start   func(ctx context.Context, e *env, bin string) (target, func() error, error)
}

var peers = []peer{
	{setup: SetupNginx, binary: "nginx", pkg: "nginx-light", version: []string{"-v"}, start: startNginx},
	{setup: SetupCaddy, binary: "caddy", pkg: "caddy", version: []string{"version"}, start: startCaddy},
}

// availablePeers returns the peers that can run, installing missing ones
// if Config allows, and records the others in res.Skipped.
func availablePeers(ctx context.Context, cfg Config, res *Results) []namedSetup {
	var missing []peer
	for _, pr := range peers {
		if !cfg.wants(pr.setup) {
			continue
		}
		if _, ok := lookPath(pr.binary); !ok {
			missing = append(missing, pr)
		}
	}
	var installErr error
	if cfg.Smoke && len(missing) > 0 {
		installErr = errors.New("smoke mode does not install packages")
	} else {
		installErr = installPeers(ctx, missing, cfg.Log)
	}
	var out []namedSetup
	for _, pr := range peers {
		if !cfg.wants(pr.setup) {
			continue
		}
		bin, ok := lookPath(pr.binary)
		if !ok {
			reason := fmt.Sprintf("%s is not installed (%v); install it with `apt-get install -y %s`", pr.binary, installErr, pr.pkg)
			res.Skipped = append(res.Skipped, Skip{Setup: pr.setup, Reason: reason})
			fmt.Fprintf(cfg.Log, "httpbench: skipping %s: %s\n", pr.setup, reason)
			continue
		}
		res.Versions[pr.setup] = pr.versionOf(bin)
		out = append(out, namedSetup{name: pr.setup, start: func(ctx context.Context, e *env) (target, func() error, error) {
			return pr.start(ctx, e, bin)
		}})
	}
	return out
}

// lookPath finds a peer's binary on PATH or in /usr/sbin, where Debian
// puts nginx and which a non-root PATH often lacks.
func lookPath(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	p := filepath.Join("/usr/sbin", name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p, true
	}
	return "", false
}

// installPeers installs the packages of the missing peers with apt-get,
// when this process may: as root, where apt-get exists. It returns why it
// did not, or the installation's error.
func installPeers(ctx context.Context, missing []peer, log io.Writer) error {
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("not running as root, so not installing them")
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		return fmt.Errorf("apt-get is not available to install them")
	}
	args := []string{"install", "-y", "--no-install-recommends"}
	for _, p := range missing {
		args = append(args, p.pkg)
	}
	fmt.Fprintf(log, "httpbench: installing %s\n", strings.Join(args[3:], " "))
	// A fresh machine has no package lists yet: without them the install
	// finds nothing.
	update := exec.CommandContext(ctx, apt, "update", "-qq")
	if out, err := update.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update: %w: %s", err, lastLines(string(out), 5))
	}
	cmd := exec.CommandContext(ctx, apt, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
	}
	return nil
}

// versionOf returns the peer's version line, e.g. "nginx/1.22.1".
func (p peer) versionOf(bin string) string {
	out, _ := exec.Command(bin, p.version...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	s = strings.TrimPrefix(s, "nginx version: ")
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "unknown version"
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
