package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
)

func newCertificateDescribeCmd(g *GlobalOptions) *cobra.Command {
	o := &targetOptions{}
	cmd := &cobra.Command{
		Use:   "describe (NAME | ID | --name NAME | --cert-id ID) --account A --project P",
		Short: "Show one certificate in detail, and the deployments that use it",
		Long: `Shows everything the API knows about one certificate: its state, the
environment types it is allowed in, the subject, issuer, serial number and
SHA-256 fingerprint of the leaf, its key algorithm, validity and how many
days remain. It never shows the private key. A certificate certbind cannot
use (its stored record does not decode, its key does not unseal, or its chain
does not decode) has a "Damaged" line saying why, and "damaged" in its JSON:
routes that use it answer 502 until it is rotated in place (see
"certbind admin verify").

"Referenced by" lists the deployments whose routes use the certificate
(environment, type and deployment id), including deploys still in progress.
While that list is not empty the certificate cannot be deleted: disable it,
redeploy those environments without it, then delete it. --output json adds
the list to the certificate object as "references".

The certificate is given by --cert-id, or by --name, which is looked up in
the project first.`,
		Example: `  certbind mtls-certificate describe --account acme --project shop --name myBackendCert

  # The same, with CERTBIND_ACCOUNT=acme and CERTBIND_PROJECT=shop set:
  certbind mtls-certificate describe myBackendCert

  # The fingerprint only:
  certbind mtls-certificate describe --account acme --project shop --name myBackendCert \
      --output json | jq -r .fingerprintSha256

  # The environments still to redeploy before myBackendCert can be deleted:
  certbind mtls-certificate describe --account acme --project shop --name myBackendCert \
      --output json | jq -r '.references[].environment'`,
		Args: oneTarget,
		RunE: func(cmd *cobra.Command, args []string) error {
			return onTarget(cmd.Context(), g, o, args, func(client *Client, id string) error {
				cert, err := client.GetCertificate(cmd.Context(), o.Account, o.Project, id)
				if err != nil {
					return err
				}
				refs, err := certificateReferences(cmd.Context(), client, o.Account, o.Project, id)
				if err != nil {
					return err
				}
				return writeCertificateWithReferences(cmd.OutOrStdout(), g.Output, cert, refs)
			})
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// certificateReferences fetches the deployments that use a certificate. It
// returns nil, without an error, from a server that does not implement the
// call yet, so that describe keeps working against it.
func certificateReferences(ctx context.Context, c *Client, account, project, id string) (*certmgrv1.ListCertificateReferencesResponse, error) {
	refs, err := c.ListCertificateReferences(ctx, account, project, id)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Code == int(codes.Unimplemented) {
		return nil, nil
	}
	return refs, err
}
