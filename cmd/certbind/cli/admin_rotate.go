package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// RotateMasterKey starts a master-key rotation (POST /v1/admin/master-key:rotate).
func (c *Client) RotateMasterKey(ctx context.Context) (*certmgrv1.RotateMasterKeyResponse, error) {
	out := &certmgrv1.RotateMasterKeyResponse{}
	err := c.call(ctx, http.MethodPost, "/v1/admin/master-key:rotate", nil, &certmgrv1.RotateMasterKeyRequest{}, out)
	return out, err
}

// GetMasterKeyStatus reads the master key's status (GET /v1/admin/master-key).
func (c *Client) GetMasterKeyStatus(ctx context.Context) (*certmgrv1.MasterKeyStatus, error) {
	out := &certmgrv1.GetMasterKeyStatusResponse{}
	err := c.call(ctx, http.MethodGet, "/v1/admin/master-key", nil, nil, out)
	return out.GetStatus(), err
}

type adminRotateOptions struct {
	NoWait bool
	Status bool
	Wait   time.Duration
}

// AddFlags registers the flags of "admin rotate-master-key".
func (o *adminRotateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.NoWait, "no-wait", false, "start the rotation and return; it goes on in the background")
	fs.BoolVar(&o.Status, "status", false, "only show the master key's status and the last rotation; start nothing")
	fs.DurationVar(&o.Wait, "wait-timeout", 30*time.Minute, "how long to wait for the rotation to finish (it goes on after that)")
}

// Validate refuses flags that contradict each other.
func (o *adminRotateOptions) Validate() error {
	if o.Status && o.NoWait {
		return errors.New("--status starts nothing, so --no-wait does not apply: drop one of them")
	}
	if o.Wait <= 0 {
		return fmt.Errorf("--wait-timeout %s must be positive (e.g. --wait-timeout 10m)", o.Wait)
	}
	return nil
}

// pollInterval is how often the command asks whether a rotation is over.
const pollInterval = 250 * time.Millisecond

func newAdminRotateMasterKeyCmd(g *GlobalOptions) *cobra.Command {
	o := &adminRotateOptions{}
	cmd := &cobra.Command{
		Use:   "rotate-master-key [--no-wait] [--status]",
		Short: "Re-wrap every sealed private key under a new master key (admin key only)",
		Long: `Creates a new master key and re-seals every stored private key with it, while
certbind keeps serving: reads, writes and the edges' certificate streams go on,
and edges see no change (certificates keep their versions). Only the admin key
may do this.

The new key is written beside the current one (master.key.next in the data
dir), becomes master.key when every private key is re-sealed, and the old key
is kept as master.key.retired-ID. A crash or restart at any point is safe: the
next start finishes the rotation, or undoes one that had not begun.

Afterwards, back up the new master.key: backups of the database taken from now
on need it. Keep master.key.retired-ID with the backups taken before the
rotation (they need it), and delete it once those are gone.

With certmgr on etcd (several replicas, each with its own copy of the key
file), the next key is not created here: write it once with
` + "`certmgr --init-master-key --next --master-key-file FILE`" + `, copy FILE.next to
every replica, send each SIGHUP (or restart them one at a time), then run this. It is refused,
changing nothing, while a live replica lacks the next key, and the error
names it. Keep FILE.retired-ID with the etcd snapshots taken before the
rotation: they hold values sealed with the old key until etcd compacts.

The command waits until the rotation is over; --no-wait returns at once, and
--status shows how the current or last rotation went.`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind admin rotate-master-key
  certbind admin rotate-master-key --status --output json`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			if o.Status {
				st, err := client.GetMasterKeyStatus(ctx)
				if err != nil {
					return err
				}
				return writeMasterKeyStatus(w, g.Output, st)
			}
			resp, err := client.RotateMasterKey(ctx)
			if err != nil {
				return err
			}
			st := resp.GetStatus()
			if !resp.GetStarted() && g.Output != OutputJSON {
				fmt.Fprintf(cmd.ErrOrStderr(), "A rotation from key %s is already under way; not starting another.\n", st.GetPreviousKeyId())
			}
			if o.NoWait {
				return writeMasterKeyStatus(w, g.Output, st)
			}
			deadline := time.Now().Add(o.Wait)
			for st.GetState() == "rotating" {
				if time.Now().After(deadline) {
					return fmt.Errorf("the rotation is still running after %s (%d keys re-sealed so far); it goes on in the background: follow it with `certbind admin rotate-master-key --status`", o.Wait, st.GetRewrapped())
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(pollInterval):
				}
				if st, err = client.GetMasterKeyStatus(ctx); err != nil {
					return err
				}
			}
			return writeMasterKeyStatus(w, g.Output, st)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func writeMasterKeyStatus(w io.Writer, format OutputFormat, st *certmgrv1.MasterKeyStatus) error {
	if format == OutputJSON {
		return writeJSON(w, st)
	}
	var err error
	p := func(f string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, f, a...)
		}
	}
	switch st.GetState() {
	case "rotating":
		p("Master key rotation under way: from key %s to key %s, %d sealed private keys re-sealed so far.\n", st.GetPreviousKeyId(), st.GetKeyId(), st.GetRewrapped())
		if e := st.GetLastError(); e != "" {
			p("It last stopped at: %s (it is retried).\n", e)
		}
	default:
		p("Master key: %s\n", st.GetKeyId())
		if st.GetFinishedAt() == nil {
			break
		}
		p("Last rotation: finished %s, %d sealed private keys re-sealed (in certificate records and their change history).\n", formatTime(st.GetFinishedAt()), st.GetRewrapped())
		p("Retired key %s is kept as %s: keep it with the backups taken before the rotation, and delete it once they are gone.\n", st.GetPreviousKeyId(), st.GetRetiredKeyFile())
		p("Back up the new master key file now: backups of the database taken from now on need it.\n")
	}
	if n := st.GetDamaged(); n > 0 {
		p("%d private keys did not open and were left as they were: rotate those certificates in place with new material.\n", n)
	}
	return err
}
