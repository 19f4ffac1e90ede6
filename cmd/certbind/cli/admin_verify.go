package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"

	"github.com/spf13/cobra"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// VerifyCertificates checks certmgr's store (POST /v1/admin/mtls-certificates:verify).
func (c *Client) VerifyCertificates(ctx context.Context) (*certmgrv1.VerifyCertificatesResponse, error) {
	out := &certmgrv1.VerifyCertificatesResponse{}
	err := c.call(ctx, http.MethodPost, "/v1/admin/mtls-certificates:verify", nil, &certmgrv1.VerifyCertificatesRequest{}, out)
	return out, err
}

// VerifyDeployments checks the deploytracker's store against certmgr
// (POST /v1/admin/deployments:verify).
func (c *Client) VerifyDeployments(ctx context.Context) (*deploytrackerv1.VerifyDeploymentsResponse, error) {
	out := &deploytrackerv1.VerifyDeploymentsResponse{}
	err := c.call(ctx, http.MethodPost, "/v1/admin/deployments:verify", nil, &deploytrackerv1.VerifyDeploymentsRequest{}, out)
	return out, err
}

func newAdminVerifyCmd(g *GlobalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Read every record of both stores and cross-check them, changing nothing",
		Long: `Reads every record of certmgr's and the deploytracker's stores through the
running services and reports what it finds. It changes nothing, and reads in
short transactions, so writers are not held up while it runs.

It reports, as errors: records that do not decode, private keys that do not
unseal under the master key or do not belong to their certificate, chains
that do not decode, index entries that point nowhere, and deployments whose
routes name a certificate that is missing, damaged, of the wrong kind or not
allowed in the deployment's environment type (those routes answer 502). As
warnings: deployments that still use a disabled or deleting certificate (a
rotation or deletion under way), and deletes, environment-type removals or
deploys left unfinished.

Exit status: 0 when there are no errors (warnings only are fine), 1 when
there is at least one error or a store could not be read. --output json
prints one object: "ok", "certificates" (certmgr's report) and
"deployments" (the deploytracker's), each with its "findings" and counts.`,
		Example: `  CERTBIND_API_KEY=ADMIN_KEY certbind admin verify

  # In a script, the findings that are errors:
  certbind admin verify --output json | jq '.certificates.findings + .deployments.findings | map(select(.severity == "error"))'`,
		Args: requireNoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := NewClient(g)
			if err != nil {
				return err
			}
			certs, err := client.VerifyCertificates(cmd.Context())
			if err != nil {
				return fmt.Errorf("verify certmgr's store: %w", err)
			}
			deps, err := client.VerifyDeployments(cmd.Context())
			if err != nil {
				return fmt.Errorf("verify the deploytracker's store: %w", err)
			}
			errs := 0
			for _, f := range certs.GetFindings() {
				if f.GetSeverity() == "error" {
					errs++
				}
			}
			for _, f := range deps.GetFindings() {
				if f.GetSeverity() == "error" {
					errs++
				}
			}
			if err := writeVerify(cmd.OutOrStdout(), g.Output, certs, deps, errs == 0); err != nil {
				return err
			}
			if errs > 0 {
				return fmt.Errorf("verify found %d error(s); each finding above says what to do", errs)
			}
			return nil
		},
	}
}

// writeVerify prints both reports: counts and a table of findings, or one
// JSON object.
func writeVerify(w io.Writer, format OutputFormat, certs *certmgrv1.VerifyCertificatesResponse, deps *deploytrackerv1.VerifyDeploymentsResponse, ok bool) error {
	if format == OutputJSON {
		c, err := jsonOptions.Marshal(certs)
		if err != nil {
			return err
		}
		d, err := jsonOptions.Marshal(deps)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		fmt.Fprintf(&buf, `{"ok":%t,"certificates":%s,"deployments":%s}`, ok, c, d)
		return writeIndented(w, buf.Bytes())
	}
	fmt.Fprintf(w, "certmgr: %d certificates, %d API keys, %d changelog entries read\n",
		certs.GetCertificates(), certs.GetApiKeys(), certs.GetChanges())
	fmt.Fprintf(w, "deploytracker: %d deployments (%d certificate references), %d deploys in progress, %d changelog entries read\n",
		deps.GetDeployments(), deps.GetReferences(), deps.GetDeploysInProgress(), deps.GetChanges())
	n := len(certs.GetFindings()) + len(deps.GetFindings())
	if n == 0 {
		_, err := fmt.Fprintln(w, "No problems found.")
		return err
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tCHECK\tWHERE\tMESSAGE")
	errs := 0
	for _, f := range certs.GetFindings() {
		if f.GetSeverity() == "error" {
			errs++
		}
		where := "certmgr"
		if f.GetAccount() != "" {
			where = fmt.Sprintf("%s/%s certificate %s", f.GetAccount(), f.GetProject(), orNone(f.GetCertificateName()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.GetSeverity(), f.GetCheck(), where, f.GetMessage())
	}
	for _, f := range deps.GetFindings() {
		if f.GetSeverity() == "error" {
			errs++
		}
		where := "deploytracker"
		if f.GetAccount() != "" {
			where = fmt.Sprintf("%s/%s environment %s", f.GetAccount(), f.GetProject(), f.GetEnvironment())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.GetSeverity(), f.GetCheck(), where, f.GetMessage())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d error(s), %d warning(s).\n", errs, n-errs)
	return err
}
