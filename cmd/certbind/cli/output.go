package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	certmgrv1 "github.com/certbind/certbind/proto/certbind/certmgr/v1"
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
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, m := range ms {
		if i > 0 {
			buf.WriteByte(',')
		}
		b, err := jsonOptions.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode JSON: %w", err)
		}
		buf.Write(b)
	}
	buf.WriteByte(']')
	return writeIndented(w, buf.Bytes())
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
			c.GetName(), c.GetId(), c.GetKind(), c.GetState(),
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
