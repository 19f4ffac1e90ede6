package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/revlog"
	"github.com/certbind/certbind/services/certmgr/seal"
	certmgrstore "github.com/certbind/certbind/services/certmgr/store"
	"github.com/certbind/certbind/services/certmgr/webhook"
	deploystore "github.com/certbind/certbind/services/deploytracker/store"
)

type adminRestoreOptions struct {
	From    string
	DataDir string
	Force   bool
	// SkipWebhooks restores the stores only, leaving webhooks.db as it is.
	SkipWebhooks bool
	// CertmgrDir and DeploytrackerDir are the services' own data
	// directories, for a suite run as separate services.
	CertmgrDir, DeploytrackerDir string
}

// storeDir returns the directory that holds the named store's file: the
// service's own --data-dir when given, else its place in the suite's data
// directory, as "certbind dev" lays it out (DIR/certmgr/certmgr.db).
// certmgr's webhook file is beside certmgr.db.
func (o *adminRestoreOptions) storeDir(name string) string {
	if name == webhooksName {
		name = "certmgr"
	}
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
	fs.BoolVar(&o.SkipWebhooks, "skip-webhooks", false, "restore the stores only and leave the data directory's webhooks.db as it is (for a backup whose webhooks.db is refused)")
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

certmgr's webhooks.db is restored beside certmgr.db when the backup has
it, after checks that it is a sound webhook file that follows the backup's
certmgr.db and whose secrets are sealed under a master key certmgr.db
names. Its pending deliveries are sent again once certmgr starts, with
their ids; deliveries made from then on get ids that none made before had.
A backup without webhooks.db (taken before certbind copied it), or
--skip-webhooks, leaves webhooks.db as it is.

Each file in place is replaced in one rename, after the old one is linked
aside: if the restore is cut off, every file holds either its old or its
restored content, and running the same restore again finishes it.

The backup holds no master key. The data directory must have the
master.key that sealed the backup's private keys and webhook secrets (the
one current when the backup was taken) before the suite starts.`,
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
	// The stores first, in the manifest's order, and the webhook file
	// last: it is checked against the staged certmgr.db, and put in place
	// after it, so that a restore cut off between the two leaves the old
	// webhook file with the new certmgr.db (whose new epoch makes certmgr
	// follow it from its head), never the backup's webhook file with the
	// old store.
	var stores []backupStore
	var hooks *backupStore
	for _, s := range m.Stores {
		if s.Name == webhooksName {
			if !o.SkipWebhooks {
				hooks = &s
			}
			continue
		}
		if err := checkFile(filepath.Join(o.From, s.File), s); err != nil {
			return err
		}
		stores = append(stores, s)
	}
	if hooks != nil {
		if err := checkFile(filepath.Join(o.From, hooks.File), *hooks); err != nil {
			return fmt.Errorf("%w; or pass --skip-webhooks to restore the stores and leave webhooks.db as it is", err)
		}
		stores = append(stores, *hooks)
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

	// Stage every file beside its place, checked, before anything in place
	// changes.
	staged := map[string]string{}
	defer func() {
		for _, p := range staged {
			os.Remove(p)
		}
	}()
	epochs := map[string]string{}
	var certEpoch string
	var certKeys []string
	var hookInfo webhook.FileInfo
	for _, s := range stores {
		tmp := filepath.Join(o.storeDir(s.Name), s.File+".restoring")
		staged[s.Name] = tmp
		if err := copyFileSync(filepath.Join(o.From, s.File), tmp); err != nil {
			return fmt.Errorf("copy %s: %w", s.File, err)
		}
		if err := checkFile(tmp, s); err != nil {
			return err
		}
		if s.Name == webhooksName {
			if hookInfo, err = checkRestoredWebhooks(tmp, certEpoch, certKeys); err != nil {
				return err
			}
			continue
		}
		if s.Name == "certmgr" && hooks != nil {
			if certEpoch, certKeys, err = certmgrIdentity(tmp); err != nil {
				return fmt.Errorf("the backup's %s is not a usable store: %w", s.File, err)
			}
		}
		epoch, err := restamp[s.Name](tmp)
		if err != nil {
			return fmt.Errorf("the backup's %s is not a usable store: %w", s.File, err)
		}
		epochs[s.Name] = epoch
	}

	// Each file: the old one linked aside, then the staged one renamed
	// over it, so that its path holds the old or the new content at every
	// moment.
	suffix := ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	for _, s := range stores {
		dir := o.storeDir(s.Name)
		path := filepath.Join(dir, s.File)
		if slices.Contains(existing, path) {
			if err := keepAside(path, path+suffix); err != nil {
				return fmt.Errorf("keep %s aside: %w", path, err)
			}
		}
		if err := restoreStep("kept aside", path); err != nil {
			return err
		}
		if err := os.Rename(staged[s.Name], path); err != nil {
			return fmt.Errorf("put %s in place: %w", s.File, err)
		}
		if err := restoreStep("in place", path); err != nil {
			return err
		}
		delete(staged, s.Name)
		if err := seal.SyncDir(dir); err != nil {
			return fmt.Errorf("make %s's new name durable: %w", s.File, err)
		}
	}

	fmt.Fprintf(w, "Restored the backup of %s\n", m.CreatedAt.Format(time.RFC3339))
	for _, s := range stores {
		path := filepath.Join(o.storeDir(s.Name), s.File)
		if s.Name == webhooksName {
			fmt.Fprintf(w, "  %-18s %d webhooks, %d deliveries (%d pending: sent again once certmgr starts)\n", path, hookInfo.Webhooks, hookInfo.Deliveries, hookInfo.Pending)
			continue
		}
		fmt.Fprintf(w, "  %-18s revision %d, new epoch %s\n", path, s.Revision, epochs[s.Name])
	}
	switch {
	case o.SkipWebhooks:
		fmt.Fprintf(w, "--skip-webhooks: %s is left as it is\n", filepath.Join(o.storeDir(webhooksName), webhooksFile))
	case hooks == nil:
		fmt.Fprintf(w, "This backup holds no %s (it was taken before certbind copied it): %s is left as it is\n", webhooksFile, filepath.Join(o.storeDir(webhooksName), webhooksFile))
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

// checkRestoredWebhooks checks the staged webhook file at path against the
// staged certmgr.db (its epoch and master keys, before its restamp) and
// readies it (webhook.PrepareRestored). A file that is damaged, not a
// webhook file, or from another suite or backup is refused.
func checkRestoredWebhooks(path, certEpoch string, certKeys []string) (webhook.FileInfo, error) {
	const what = "restore from another backup, or pass --skip-webhooks to restore the stores and leave webhooks.db as it is"
	problems, info, err := webhookProblems(path, certEpoch, certKeys)
	if err != nil {
		return info, fmt.Errorf("the backup's %s is not usable: %v; %s", webhooksFile, err, what)
	}
	if len(problems) > 0 {
		return info, fmt.Errorf("the backup's %s does not belong with its certmgr.db (%s): it comes from another suite or another backup; %s", webhooksFile, strings.Join(problems, "; "), what)
	}
	if err := webhook.PrepareRestored(path); err != nil {
		return info, fmt.Errorf("prepare the backup's %s: %v; %s", webhooksFile, err, what)
	}
	return info, nil
}

// restoreStep runs after each step of putting files in place; tests stop
// the restore there, as a crash would.
var restoreStep = func(step, path string) error { return nil }

// keepAside gives the file at path a second name, aside, without moving
// it: a hard link, or a copy where links are not possible.
func keepAside(path, aside string) error {
	if err := os.Link(path, aside); err == nil {
		return nil
	}
	return copyFileSync(path, aside)
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
