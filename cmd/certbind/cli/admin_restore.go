package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/services/certmgr/seal"
	certmgrstore "github.com/certbind/certbind/services/certmgr/store"
	deploystore "github.com/certbind/certbind/services/deploytracker/store"
)

type adminRestoreOptions struct {
	From    string
	DataDir string
	Force   bool
	// CertmgrDir and DeploytrackerDir are the services' own data
	// directories, for a suite run as separate services.
	CertmgrDir, DeploytrackerDir string
}

// storeDir returns the directory that holds the named store's file: the
// service's own --data-dir when given, else its place in the suite's data
// directory, as "certbind dev" lays it out (DIR/certmgr/certmgr.db).
func (o *adminRestoreOptions) storeDir(name string) string {
	switch {
	case name == "certmgr" && o.CertmgrDir != "":
		return o.CertmgrDir
	case name == "deploytracker" && o.DeploytrackerDir != "":
		return o.DeploytrackerDir
	}
	return filepath.Join(o.DataDir, name)
}

func (o *adminRestoreOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.From, "from", "", "backup directory written by \"certbind admin backup\"")
	fs.StringVar(&o.DataDir, "data-dir", "", "data directory of the stopped suite to restore into (as given to \"certbind dev --data-dir\")")
	fs.BoolVar(&o.Force, "force", false, "replace the stores the data directory holds (they are kept beside as *.before-restore-TIME)")
	fs.StringVar(&o.CertmgrDir, "certmgr-data-dir", "", "certmgr's own --data-dir, for a suite run as separate services (instead of DIR/certmgr)")
	fs.StringVar(&o.DeploytrackerDir, "deploytracker-data-dir", "", "the deploytracker's own --data-dir, for a suite run as separate services (instead of DIR/deploytracker)")
}

func newAdminRestoreCmd() *cobra.Command {
	o := &adminRestoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore --from DIR --data-dir DIR [--force]",
		Short: "Restore a backup into the data directory of a stopped suite",
		Long: `Put the stores of a backup in place for a suite that is stopped; it works on
files and needs no API key. It checks the backup's manifest and every file's
size and SHA-256 first and changes nothing if one does not match. A data
directory that already holds stores is replaced only with --force, and
never while a process has them open.

Each restored store gets a new epoch: edges that still hold the state of the
replaced stores are told to resync when they reconnect, and then serve
exactly the restored state, whatever revisions they had reached.

The backup holds no master key. The data directory must have the
master.key that sealed the backup's private keys before the suite starts.`,
		Example: `  certbind admin restore --from /var/backups/certbind/2026-12-07 --data-dir ./.certbind --force`,
		Args:    requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.From == "" {
				return errors.New("--from is required: the backup directory to restore")
			}
			if o.DataDir == "" && (o.CertmgrDir == "" || o.DeploytrackerDir == "") {
				return errors.New("--data-dir is required: the data directory of the suite to restore into (or both --certmgr-data-dir and --deploytracker-data-dir)")
			}
			return runRestore(cmd.OutOrStdout(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// restamp gives a restored store file a new epoch, by store name.
var restamp = map[string]func(string) (string, error){
	"certmgr":       certmgrstore.Restamp,
	"deploytracker": deploystore.Restamp,
}

func runRestore(w io.Writer, o *adminRestoreOptions) error {
	m, err := readManifest(o.From)
	if err != nil {
		return err
	}
	var stores []backupStore
	for _, s := range m.Stores {
		if _, ok := restamp[s.Name]; !ok || s.File != s.Name+".db" {
			return fmt.Errorf("the backup's manifest lists an unknown store %q (file %q)", s.Name, s.File)
		}
		if err := checkFile(filepath.Join(o.From, s.File), s); err != nil {
			return err
		}
		stores = append(stores, s)
	}

	var existing []string
	for _, s := range stores {
		if err := os.MkdirAll(o.storeDir(s.Name), 0o700); err != nil {
			return fmt.Errorf("create the data directory: %w", err)
		}
		path := filepath.Join(o.storeDir(s.Name), s.File)
		inUse, err := revlog.InUse(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", path, err)
		}
		if inUse {
			return fmt.Errorf("%s is open in a running process: stop the suite first", path)
		}
		existing = append(existing, path)
	}
	if len(existing) > 0 && !o.Force {
		return fmt.Errorf("the data directory already holds %v: stop the suite and pass --force to replace them (they are kept as *.before-restore-TIME)", existing)
	}

	// Stage every store beside its place, checked and with its new epoch,
	// before anything in place changes.
	staged := map[string]string{}
	defer func() {
		for _, p := range staged {
			os.Remove(p)
		}
	}()
	epochs := map[string]string{}
	for _, s := range stores {
		tmp := filepath.Join(o.storeDir(s.Name), s.File+".restoring")
		staged[s.Name] = tmp
		if err := copyFileSync(filepath.Join(o.From, s.File), tmp); err != nil {
			return fmt.Errorf("copy %s: %w", s.File, err)
		}
		if err := checkFile(tmp, s); err != nil {
			return err
		}
		epoch, err := restamp[s.Name](tmp)
		if err != nil {
			return fmt.Errorf("the backup's %s is not a usable store: %w", s.File, err)
		}
		epochs[s.Name] = epoch
	}

	suffix := ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	for _, path := range existing {
		if err := os.Rename(path, path+suffix); err != nil {
			return fmt.Errorf("keep %s aside: %w", path, err)
		}
	}
	for _, s := range stores {
		if err := os.Rename(staged[s.Name], filepath.Join(o.storeDir(s.Name), s.File)); err != nil {
			return fmt.Errorf("put %s in place: %w", s.File, err)
		}
		delete(staged, s.Name)
		if err := seal.SyncDir(o.storeDir(s.Name)); err != nil {
			return fmt.Errorf("make %s's new name durable: %w", s.File, err)
		}
	}

	fmt.Fprintf(w, "Restored the backup of %s\n", m.CreatedAt.Format(time.RFC3339))
	for _, s := range stores {
		fmt.Fprintf(w, "  %-18s revision %d, new epoch %s\n", filepath.Join(o.storeDir(s.Name), s.File), s.Revision, epochs[s.Name])
	}
	for _, path := range existing {
		fmt.Fprintf(w, "The replaced %s is kept as %s\n", filepath.Base(path), filepath.Base(path+suffix))
	}
	fmt.Fprintf(w, "API keys are as they were at %s: once the suite runs, revoke again any key revoked since (certbind api-key list)\n", m.CreatedAt.Format(time.RFC3339))
	if _, err := os.Stat(filepath.Join(o.DataDir, "master.key")); o.DataDir != "" && err != nil {
		fmt.Fprintf(w, "%s has no master.key: put the master key that sealed this backup's private keys there before starting the suite\n", o.DataDir)
	}
	return nil
}

// copyFileSync copies src to a new file dst of mode 0600 and syncs it.
func copyFileSync(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
