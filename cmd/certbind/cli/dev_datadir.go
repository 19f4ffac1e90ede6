package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/certbind/certbind/internal/serve"
)

// checkDevDataDir creates dir (0700) when it is missing, and refuses it, or
// its services' dirs, when others may reach them (serve.CheckDataDir).
func checkDevDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "certmgr"), filepath.Join(dir, "deploytracker")} {
		warning, err := serve.CheckDataDir(d)
		if err != nil {
			return err
		}
		if warning != "" {
			log.Warn(warning)
		}
	}
	return nil
}
