package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// backupAttempts bounds how often a backup copies both stores again because
// the copies disagreed (see crossCheck).
const backupAttempts = 5

type adminBackupOptions struct {
	Out string
}

func (o *adminBackupOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Out, "out", "", "directory to write the backup to (created with mode 0700; must be empty)")
}

func newAdminBackupCmd(g *GlobalOptions) *cobra.Command {
	o := &adminBackupOptions{}
	cmd := &cobra.Command{
		Use:   "backup --out DIR",
		Short: "Copy the stores of a running suite into a directory",
		Long: `Take a consistent copy of certmgr's and the deploytracker's stores while the
suite runs, through the REST API with the admin key. DIR receives
certmgr.db, deploytracker.db, certmgr's webhooks.db (webhooks, delivery
logs, expiry marks), all mode 0600, and manifest.json (time, revisions,
epochs, sizes and SHA-256 of each file).

Each file is one consistent snapshot. The deploytracker is copied first,
then webhooks.db, then certmgr.db; the copies are opened and checked to
agree (every certificate a copied deployment references is in the copied
certmgr.db and allows the deployment's environment type; webhooks.db
follows the copied certmgr.db and its secrets are sealed under a master key
certmgr.db names), and copied again if a change in between made them
disagree.

Private keys in certmgr.db and webhook secrets in webhooks.db stay sealed
under the master key, which is NOT in the backup: keep master.key somewhere
else (a backup holding both would expose every private key to whoever reads
it), and keep the master key current when the backup was taken. Restore
with "certbind admin restore".`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind admin backup --out /var/backups/certbind/2026-12-07`,
		Args:    requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Out == "" {
				return errors.New("--out is required: the directory to write the backup to")
			}
			c, err := NewClient(g)
			if err != nil {
				return err
			}
			m, err := runBackup(cmd.Context(), c, o.Out)
			if err != nil {
				return err
			}
			if g.Output == OutputJSON {
				data, err := json.MarshalIndent(m, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", data)
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Backup written to %s\n", o.Out)
			for _, s := range m.Stores {
				fmt.Fprintf(w, "  %-18s revision %d, epoch %s, %d bytes, sha256 %s\n", s.File, s.Revision, s.Epoch, s.Size, s.SHA256)
			}
			fmt.Fprintf(w, "The master key is not in it: keep master.key separately.\n")
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// betweenCopies runs between the copy of the deploytracker and that of
// certmgr; tests make writes there.
var betweenCopies = func(attempt int) {}

// runBackup writes a backup of both stores into dir.
func runBackup(ctx context.Context, c *Client, dir string) (*backupManifest, error) {
	// Ask first, so that a wrong key or URL leaves no directory behind.
	if _, err := c.backupRevision(ctx, "deploytracker"); err != nil {
		return nil, err
	}
	if err := prepareBackupDir(dir); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		m := &backupManifest{Format: backupFormat, CreatedAt: time.Now().UTC(), MasterKey: masterKeyNote}
		for _, f := range backupCopyOrder {
			if f.Name == "certmgr" {
				betweenCopies(attempt)
			}
			s, err := c.downloadBackup(ctx, f, filepath.Join(dir, f.File))
			if err != nil {
				return nil, err
			}
			m.Stores = append(m.Stores, s)
		}
		// Every certificate a copied deployment references must be in
		// certmgr's copy, allowed in the deployment's environment type;
		// copies taken one after the other can disagree only when a
		// deployment and then its certificate went in between. The
		// webhook file must follow the copied certmgr.db and have its
		// secrets sealed under a master key that certmgr.db names: they
		// disagree only when a master-key rotation ran between the two
		// copies. Copy them all again then.
		problems, err := crossCheck(dir)
		if err != nil {
			return nil, err
		}
		if len(problems) == 0 {
			return m, writeManifest(dir, m)
		}
		if attempt == backupAttempts {
			return nil, fmt.Errorf("the copies disagreed in each of %d attempts (deployments and certificates, or the master key, changed while they were copied), last: %s; run the backup again when fewer changes are running", backupAttempts, strings.Join(problems, "; "))
		}
	}
}

// prepareBackupDir creates dir with mode 0700, or accepts an existing empty
// one (and makes it 0700); it refuses one that holds anything.
func prepareBackupDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create the backup directory: %w", err)
		}
		return os.Chmod(dir, 0o700)
	case err != nil:
		return fmt.Errorf("--out %s: %w", dir, err)
	case len(entries) > 0:
		return fmt.Errorf("--out %s is not empty: give a new or empty directory for each backup, so no backup overwrites another", dir)
	}
	return os.Chmod(dir, 0o700)
}

func writeManifest(dir string, m *backupManifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileSync(filepath.Join(dir, manifestName), func(f *os.File) error {
		_, err := f.Write(append(data, '\n'))
		return err
	})
}

// writeFileSync writes a file of mode 0600 through a temporary name, syncs
// it and renames it into place, so that path holds all of it or nothing.
func writeFileSync(path string, write func(*os.File) error) error {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// isStatus reports whether err is an answer of the REST API with the HTTP
// status code.
func isStatus(err error, code int) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.HTTPStatus == code
}

// backupRevision returns the head revision of a store.
func (c *Client) backupRevision(ctx context.Context, name string) (uint64, error) {
	var info struct {
		Revision uint64 `json:"revision,string"`
	}
	resp, err := c.backupRequest(ctx, pathf("/v1/admin/backup/%s/info", name), c.http)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&info); err != nil {
		return 0, fmt.Errorf("certbind at %s sent a backup info this CLI cannot read: %v", c.baseURL, err)
	}
	return info.Revision, nil
}

// downloadBackup copies one store into path and checks the copy against the
// size the server announced and the SHA-256 it sent after the last byte.
func (c *Client) downloadBackup(ctx context.Context, f backupFile, path string) (backupStore, error) {
	name := f.Name
	// The copy may take longer than --timeout, which bounds the wait for
	// the answer to start instead.
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: c.http.Timeout}}
	resp, err := c.backupRequest(ctx, pathf("/v1/admin/backup/%s", name), hc)
	if err != nil {
		if f.Optional && isStatus(err, http.StatusNotFound) {
			return backupStore{}, fmt.Errorf("certbind at %s does not serve a copy of %s (its REST facade is older than this CLI): upgrade it, or take the backup with a CLI of its version", c.baseURL, f.File)
		}
		return backupStore{}, err
	}
	defer resp.Body.Close()
	s := backupStore{Name: name, File: f.File, Epoch: resp.Header.Get("X-Certbind-Epoch")}
	s.Revision, err = strconv.ParseUint(resp.Header.Get("X-Certbind-Revision"), 10, 64)
	if err == nil {
		s.Size, err = strconv.ParseInt(resp.Header.Get("X-Certbind-Size"), 10, 64)
	}
	if err != nil || s.Epoch == "" {
		return s, fmt.Errorf("certbind at %s sent a %s backup without its revision, epoch or size; is --api-url the certbind REST API?", c.baseURL, name)
	}
	h := sha256.New()
	var n int64
	err = writeFileSync(path, func(f *os.File) error {
		var err error
		n, err = io.Copy(io.MultiWriter(f, h), resp.Body)
		if err != nil {
			return c.transportError(ctx, err)
		}
		s.SHA256 = hex.EncodeToString(h.Sum(nil))
		if msg := resp.Trailer.Get("X-Certbind-Error"); msg != "" {
			return fmt.Errorf("the %s backup failed part-way: %s", name, msg)
		}
		if want := resp.Trailer.Get("X-Certbind-Sha256"); n != s.Size || want != s.SHA256 {
			return fmt.Errorf("the %s backup arrived incomplete or altered (%d of %d bytes, SHA-256 %s, the server's %q); run the backup again", name, n, s.Size, s.SHA256, want)
		}
		return nil
	})
	return s, err
}

func (c *Client) backupRequest(ctx context.Context, path string, hc *http.Client) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseURL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, c.statusError(resp, data)
	}
	return resp, nil
}
