package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/certbind/certbind/internal/validate"
	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

// maxPageSize is the largest page the API serves.
const maxPageSize = 1000

type certificateListOptions struct {
	projectOptions
	EnvironmentType string
	State           string
	ExpiringWithin  string
	PageSize        int

	expiringWithinDays int32 // ExpiringWithin, parsed by Validate
}

// AddFlags registers the flags of "mtls-certificate list".
func (o *certificateListOptions) AddFlags(fs *pflag.FlagSet) {
	o.projectOptions.AddFlags(fs)
	fs.StringVar(&o.EnvironmentType, "environment-type", "", "only certificates allowed in this environment type: development, preview or production")
	fs.StringVar(&o.State, "state", "", "only certificates in this state: active or disabled")
	fs.StringVar(&o.ExpiringWithin, "expiring-within", "", "only certificates that expire within this time: days (30 or 30d) or whole days as hours (720h)")
	fs.IntVar(&o.PageSize, "page-size", 0, fmt.Sprintf("certificates fetched per request, 1 to %d (default: the server's, 100); all pages are listed", maxPageSize))
}

// Validate checks the filters.
func (o *certificateListOptions) Validate() error {
	if err := o.projectOptions.Validate(); err != nil {
		return err
	}
	if o.EnvironmentType != "" {
		if err := validate.EnvironmentType(o.EnvironmentType).Validate(); err != nil {
			return flagError("environment-type", err)
		}
	}
	switch o.State {
	case "", "active", "disabled":
	default:
		return fmt.Errorf("--state %q is not a state (use active or disabled)", o.State)
	}
	if o.ExpiringWithin != "" {
		days, err := parseExpiringWithin(o.ExpiringWithin)
		if err != nil {
			return err
		}
		o.expiringWithinDays = days
	}
	if o.PageSize < 0 || o.PageSize > maxPageSize {
		return fmt.Errorf("--page-size %d is out of range (use 1 to %d)", o.PageSize, maxPageSize)
	}
	return nil
}

// parseExpiringWithin reads --expiring-within as a number of days: "30",
// "30d", or a Go duration that is a whole number of days such as "720h".
// The API filters by whole days, so "36h" is refused rather than rounded in
// a direction the user did not choose.
func parseExpiringWithin(s string) (int32, error) {
	bad := func(why string) error {
		return fmt.Errorf("--expiring-within %q %s (use days such as 30 or 30d, or hours that make whole days such as 720h)", s, why)
	}
	var days int64
	if n, ok := strings.CutSuffix(s, "d"); ok || isDigits(s) {
		if !isDigits(n) {
			return 0, bad("is not a number of days")
		}
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, bad("is too large")
		}
		days = v
	} else {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad("is not a duration")
		}
		if d%(24*time.Hour) != 0 {
			return 0, bad("is not a whole number of days")
		}
		days = int64(d / (24 * time.Hour))
	}
	switch {
	case days <= 0:
		return 0, bad("must be at least one day")
	case days > math.MaxInt32:
		return 0, bad("is too large")
	}
	return int32(days), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// describeFilters says which certificates a listing looked for, for the
// message shown when there are none.
func (o *certificateListOptions) describeFilters() string {
	var parts []string
	if o.State != "" {
		parts = append(parts, o.State)
	}
	where := fmt.Sprintf("in account %s, project %s", o.Account, o.Project)
	if o.EnvironmentType != "" {
		where += ", allowed in " + o.EnvironmentType
	}
	if o.expiringWithinDays > 0 {
		where += fmt.Sprintf(", expiring within %s", plural(o.expiringWithinDays, "day"))
	}
	return strings.Join(append(parts, "certificates "+where), " ")
}

func newCertificateListCmd(g *GlobalOptions) *cobra.Command {
	o := &certificateListOptions{}
	cmd := &cobra.Command{
		Aliases: []string{"ls"},
		Use:     "list --account A --project P",
		Short:   "List the certificates of a project",
		Long: `Lists the certificates of a project, fetching every page, optionally filtered
by environment type, state and expiry. The table marks certificates that
expire within 30 days or have expired; --output json prints a JSON array of
certificates.`,
		Example: `  certbind mtls-certificate list --account acme --project shop

  # What needs rotating this quarter, in production:
  certbind mtls-certificate list --account acme --project shop \
      --environment-type production --state active --expiring-within 90d

  # Names of disabled certificates, for a script:
  certbind mtls-certificate list --account acme --project shop --state disabled --output json | jq -r '.[].name'`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return usageError(err)
			}
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			certs, err := client.ListAllCertificates(cmd.Context(), &certmgrv1.ListCertificatesRequest{
				Account:            o.Account,
				Project:            o.Project,
				EnvironmentType:    o.EnvironmentType,
				State:              o.State,
				ExpiringWithinDays: o.expiringWithinDays,
				PageSize:           int32(o.PageSize),
			})
			if err != nil {
				return err
			}
			return writeCertificateList(cmd.OutOrStdout(), g.Output, certs, "no "+o.describeFilters())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
