package cli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/audit"
	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

type auditListOptions struct {
	Account    string
	ResourceID string
	Action     string
	Since      string
	Limit      int
}

// AddFlags registers the flags of "audit list".
func (o *auditListOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Account, "account", "", "account whose trail to read (required; or "+EnvAccount+" or a profile), e.g. acme")
	fs.StringVar(&o.ResourceID, "resource-id", "", "only the entries about this resource: a certificate id (crt_...) or an API key id")
	fs.StringVar(&o.Action, "action", "", "only the entries of this action, e.g. certificate.delete, certificate.rotate, apikey.revoke")
	fs.StringVar(&o.Since, "since", "", "only the entries from this time on: a duration back from now (24h, 7d) or an RFC 3339 time")
	fs.IntVar(&o.Limit, "limit", 100, "print at most this many entries, newest first")
}

// Validate checks the flags before any request, with the rules the server
// applies.
func (o *auditListOptions) Validate() error {
	if o.Account == "" {
		return usageErrorf("--account is required (e.g. --account acme)")
	}
	if o.Limit < 1 {
		return usageErrorf("--limit %d is not a positive number of entries", o.Limit)
	}
	_, err := audit.Parse(audit.Request{Account: o.Account, ResourceID: o.ResourceID, Action: o.Action, Since: o.Since}, time.Now())
	var ve *validate.Error
	if errors.As(err, &ve) {
		flag := map[string]string{"resource": "resource-id"}[ve.Field]
		if flag == "" {
			flag = ve.Field
		}
		return flagError(flag, err)
	}
	return err
}

func newAuditListCmd(g *GlobalOptions) *cobra.Command {
	o := &auditListOptions{}
	cmd := &cobra.Command{
		Aliases: []string{"ls"},
		Use:     "list --account A [--resource-id ID] [--action ACTION] [--since 24h]",
		Short:   "List an account's audit entries, newest first",
		Long: `Lists the audit entries of an account, newest first: time, actor (API key id
and role), action, resource and result ("refused" entries carry the error code
and message the caller got). certmgr keeps 10,000 entries per account and 90
days by default. --output json prints a JSON array of entries.`,
		Example: `  certbind audit list --account acme --since 24h
  certbind audit list --account acme --resource-id crt_abc... --action certificate.delete

  # Who rotated what this week:
  certbind audit list --account acme --action certificate.rotate --since 7d --output json |
      jq -r '.[] | [.time, .actorKeyId, .resource.name] | @tsv'`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			var entries []*certmgrv1.AuditEntry
			req := &certmgrv1.ListAuditEntriesRequest{Account: o.Account, Resource: o.ResourceID, Action: o.Action, Since: o.Since,
				PageSize: int32(min(o.Limit, audit.MaxPageSize))}
			for len(entries) < o.Limit {
				resp, err := client.ListAuditEntries(cmd.Context(), req)
				if err != nil {
					return err
				}
				entries = append(entries, resp.GetEntries()...)
				if resp.GetNextPageToken() == "" {
					break
				}
				req.PageToken = resp.GetNextPageToken()
			}
			if len(entries) > o.Limit {
				entries = entries[:o.Limit]
			}
			return writeAuditList(cmd.OutOrStdout(), g.Output, entries, "no audit entries in account "+o.Account+" that match")
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// writeAuditList prints entries as a table, or as a JSON array of
// AuditEntry objects.
func writeAuditList(w io.Writer, format OutputFormat, entries []*certmgrv1.AuditEntry, empty string) error {
	if format == OutputJSON {
		return writeJSONList(w, entries)
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tRESOURCE\tRESULT")
	for _, e := range entries {
		r := e.GetResource()
		res := r.GetKind() + " " + orNone(r.GetName())
		if r.GetId() != "" {
			res += " (" + r.GetId() + ")"
		}
		result := e.GetResult()
		if e.GetCode() != "" {
			result += " " + e.GetCode() + ": " + e.GetMessage()
		}
		fmt.Fprintf(tw, "%s\t%s (%s)\t%s\t%s\t%s\n", formatTime(e.GetTime()), e.GetActorKeyId(), e.GetActorRole(), e.GetAction(), res, result)
	}
	return tw.Flush()
}
