package cli

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
)

// OutputFormat is the value of --output. It implements pflag.Value so that a
// wrong value is refused while flags are parsed, with a message naming the flag.
type OutputFormat string

// The output formats.
const (
	OutputTable OutputFormat = "table"
	OutputJSON  OutputFormat = "json"
)

func (f *OutputFormat) String() string { return string(*f) }

// Type names the value in help text.
func (f *OutputFormat) Type() string { return "format" }

// Set accepts "table" or "json".
func (f *OutputFormat) Set(s string) error {
	switch v := OutputFormat(s); v {
	case OutputTable, OutputJSON:
		*f = v
		return nil
	}
	return errors.New("use table or json")
}

// jsonOptions emits unpopulated fields so that a script can rely on keys
// like environmentTypes being present even when they are empty.
var jsonOptions = protojson.MarshalOptions{EmitUnpopulated: true}

// writeJSON prints one message as an indented JSON object.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOptions.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	return writeIndented(w, b)
}

// writeJSONList prints messages as one indented JSON array, "[]" when empty.
func writeJSONList[M proto.Message](w io.Writer, ms []M) error {
	b, err := marshalJSONList(ms)
	if err != nil {
		return err
	}
	return writeIndented(w, b)
}

// marshalJSONList encodes messages as one compact JSON array.
func marshalJSONList[M proto.Message](ms []M) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, m := range ms {
		if i > 0 {
			buf.WriteByte(',')
		}
		b, err := jsonOptions.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encode JSON: %w", err)
		}
		buf.Write(b)
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// writeIndented re-indents compact JSON. protojson deliberately varies its
// whitespace between builds; json.Indent discards it, so the output is stable.
func writeIndented(w io.Writer, compact []byte) error {
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// writeCertificate prints one certificate in the chosen format: a
// "Field: value" block for people, or the Certificate object as JSON.
func writeCertificate(w io.Writer, format OutputFormat, c *certmgrv1.Certificate) error {
	if format == OutputJSON {
		return writeJSON(w, c)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(field, value string) { fmt.Fprintf(tw, "%s:\t%s\n", field, value) }
	row("ID", c.GetId())
	row("Name", c.GetName())
	row("Account", c.GetAccount())
	row("Project", c.GetProject())
	row("Kind", c.GetKind())
	row("State", c.GetState())
	if d := c.GetDamaged(); d != "" {
		row("Damaged", d)
	}
	row("Version", fmt.Sprint(c.GetVersion()))
	row("Environment types", joinOrNone(c.GetEnvironmentTypes()))
	row("Subject", c.GetSubject())
	row("Issuer", c.GetIssuer())
	row("Serial", c.GetSerialNumber())
	row("Fingerprint (SHA-256)", c.GetFingerprintSha256())
	row("Key algorithm", orNone(c.GetKeyAlgorithm()))
	row("DNS names", joinOrNone(c.GetDnsNames()))
	row("Not before", formatTime(c.GetNotBefore()))
	row("Not after", formatTime(c.GetNotAfter())+" ("+expiryNote(c)+")")
	row("Created", formatTime(c.GetCreatedAt()))
	row("Updated", formatTime(c.GetUpdatedAt()))
	return tw.Flush()
}

// writeCertificateList prints certificates as a table, or as a JSON array of
// Certificate objects. empty is printed instead of a table with no rows.
func writeCertificateList(w io.Writer, format OutputFormat, certs []*certmgrv1.Certificate, empty string) error {
	if format == OutputJSON {
		return writeJSONList(w, certs)
	}
	if len(certs) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tKIND\tSTATE\tENVIRONMENT TYPES\tNOT AFTER\tDAYS LEFT")
	for _, c := range certs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			c.GetName(), c.GetId(), c.GetKind(), stateCell(c),
			joinOrNone(c.GetEnvironmentTypes()), formatDate(c.GetNotAfter()), daysLeft(c))
	}
	return tw.Flush()
}

// daysLeft is the DAYS LEFT cell: the number of days, flagged when the
// certificate has expired or the server says it expires soon.
func daysLeft(c *certmgrv1.Certificate) string {
	d := c.GetDaysUntilExpiry()
	switch {
	case c.GetNotAfter() == nil:
		return "-"
	case d < 0 || !c.GetNotAfter().AsTime().After(time.Now()):
		return fmt.Sprintf("%d ⚠ expired", d)
	case c.GetExpiringSoon():
		return fmt.Sprintf("%d ⚠ expiring soon", d)
	}
	return fmt.Sprint(d)
}

// expiryNote says in words how long the certificate remains valid.
func expiryNote(c *certmgrv1.Certificate) string {
	if c.GetNotAfter() == nil {
		return "expiry unknown"
	}
	d := c.GetDaysUntilExpiry()
	switch {
	case d < 0:
		return fmt.Sprintf("⚠ expired %s ago", plural(-d, "day"))
	case !c.GetNotAfter().AsTime().After(time.Now()):
		return "⚠ expired today"
	case c.GetExpiringSoon():
		return fmt.Sprintf("%s left, ⚠ expiring soon", plural(d, "day"))
	}
	return fmt.Sprintf("%s left", plural(d, "day"))
}

func plural(n int32, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func formatDate(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.DateOnly)
}

func joinOrNone(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// writeCertificateWithReferences prints a certificate and the deployments
// that reference it. refs is nil when the server cannot tell (one that
// predates the references call): the table then says so and the JSON has no
// "references" key, rather than claiming that there are none.
func writeCertificateWithReferences(w io.Writer, format OutputFormat, c *certmgrv1.Certificate, refs *certmgrv1.ListCertificateReferencesResponse) error {
	if format == OutputJSON {
		if refs == nil {
			return writeJSON(w, c)
		}
		return writeCertificateJSONWithReferences(w, c, refs.GetReferences())
	}
	if err := writeCertificate(w, format, c); err != nil {
		return err
	}
	switch {
	case refs == nil:
		_, err := fmt.Fprintln(w, "Referenced by: unknown (this certbind server does not report references)")
		return err
	case len(refs.GetReferences()) == 0:
		_, err := fmt.Fprintln(w, "Referenced by: none")
		return err
	}
	fmt.Fprintln(w, "Referenced by:")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range refs.GetReferences() {
		fmt.Fprintf(tw, "  %s\t(%s)\t%s", r.GetEnvironment(), r.GetEnvironmentType(), r.GetDeploymentId())
		if r.GetInProgress() {
			fmt.Fprint(tw, "\t(deploy in progress)")
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// writeCertificateJSONWithReferences prints the Certificate object with a
// "references" array added after its own fields. The object is spliced
// rather than decoded into a map so that the fields keep their order.
func writeCertificateJSONWithReferences(w io.Writer, c *certmgrv1.Certificate, refs []*certmgrv1.DeploymentReference) error {
	cert, err := jsonOptions.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	list, err := marshalJSONList(refs)
	if err != nil {
		return err
	}
	body, ok := bytes.CutSuffix(bytes.TrimSpace(cert), []byte("}"))
	if !ok {
		return fmt.Errorf("encode JSON: certificate is not a JSON object")
	}
	var buf bytes.Buffer
	buf.Write(body)
	if len(bytes.TrimSpace(body)) > 1 { // more than the opening brace
		buf.WriteByte(',')
	}
	buf.WriteString(`"references":`)
	buf.Write(list)
	buf.WriteByte('}')
	return writeIndented(w, buf.Bytes())
}

// writeDeployment prints one deployment: a summary, its routes as the edge
// serves them and a curl line to try it; or the Deployment object as JSON.
func writeDeployment(w io.Writer, format OutputFormat, d *deploytrackerv1.Deployment) error {
	if format == OutputJSON {
		return writeJSON(w, d)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(field, value string) { fmt.Fprintf(tw, "%s:\t%s\n", field, value) }
	row("ID", d.GetId())
	row("Environment", fmt.Sprintf("%s (%s)", d.GetEnvironment(), d.GetEnvironmentType()))
	if dmg := d.GetDamaged(); dmg != "" {
		row("Damaged", dmg)
	}
	row("Generation", fmt.Sprint(d.GetGeneration()))
	row("URL", orNone(d.GetUrl()))
	// Only the names: a variable's value can be a credential meant for a
	// backend, and the routes below show the certificates they resolved to.
	row("Variables", joinOrNone(slices.Sorted(maps.Keys(d.GetVariables()))))
	row("Updated", formatTime(d.GetUpdatedAt()))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.GetRoutes()) == 0 {
		_, err := fmt.Fprintln(w, "\nRoutes: none")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tMETHODS\tHANDLER\tTARGET\tMTLS CERTIFICATE\tCA CERTIFICATE")
	for _, r := range d.GetRoutes() {
		methods := "any"
		if len(r.GetMethods()) > 0 {
			methods = strings.Join(r.GetMethods(), ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.GetPath(), methods, r.GetHandler(), routeTarget(r),
			orNone(cmp.Or(r.GetMtlsCertificateName(), r.GetMtlsCertificateId())),
			orNone(cmp.Or(r.GetCaCertificateName(), r.GetCaCertificateId())))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if hint := curlHint(d); hint != "" {
		_, err := fmt.Fprintf(w, "\nTry it:\n  %s\n", hint)
		return err
	}
	return nil
}

// routeTarget is where a route sends requests: the rewrite pattern of a
// UrlRewriteHandler, otherwise the base URL.
func routeTarget(r *deploytrackerv1.Route) string {
	if r.GetHandler() == "UrlRewriteHandler" {
		return orNone(cmp.Or(r.GetRewritePattern(), r.GetBaseUrl()))
	}
	return orNone(cmp.Or(r.GetBaseUrl(), r.GetRewritePattern()))
}

// curlHint returns "curl URL/PATH" for the first route that a plain curl
// reaches as it is: a path without wildcards or parameters that takes GET.
// It returns "" when there is no such route or no URL.
func curlHint(d *deploytrackerv1.Deployment) string {
	if d.GetUrl() == "" {
		return ""
	}
	for _, r := range d.GetRoutes() {
		p := r.GetPath()
		if p == "" || strings.ContainsAny(p, "*{}:") {
			continue
		}
		if len(r.GetMethods()) > 0 && !slices.Contains(r.GetMethods(), "GET") {
			continue
		}
		return "curl " + strings.TrimRight(d.GetUrl(), "/") + "/" + strings.TrimLeft(p, "/")
	}
	return ""
}

// writeDeploymentList prints deployments as a table, or as a JSON array of
// Deployment objects. empty is printed instead of a table with no rows.
func writeDeploymentList(w io.Writer, format OutputFormat, ds []*deploytrackerv1.Deployment, empty string) error {
	if format == OutputJSON {
		return writeJSONList(w, ds)
	}
	if len(ds) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENVIRONMENT\tTYPE\tID\tGENERATION\tURL\tCERTIFICATES\tUPDATED")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			d.GetEnvironment(), cmp.Or(d.GetEnvironmentType(), damagedCell(d.GetDamaged())), d.GetId(), d.GetGeneration(),
			orNone(d.GetUrl()), joinOrNone(referencedNames(d)), formatTime(d.GetUpdatedAt()))
	}
	return tw.Flush()
}

// referencedNames lists the certificates a deployment references, each
// once, in the order the routes first use them.
func referencedNames(d *deploytrackerv1.Deployment) []string {
	var names []string
	for _, r := range d.GetReferences() {
		if n := cmp.Or(r.GetCertificateName(), r.GetCertificateId()); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// stateCell is the STATE cell of a certificate: its state, flagged when it
// is damaged (describe shows why).
func stateCell(c *certmgrv1.Certificate) string {
	if c.GetDamaged() == "" {
		return c.GetState()
	}
	return strings.TrimSpace(c.GetState() + " ⚠ damaged")
}

// damagedCell marks a damaged deployment in a table cell it cannot fill.
func damagedCell(damaged string) string {
	if damaged == "" {
		return ""
	}
	return "⚠ damaged"
}
