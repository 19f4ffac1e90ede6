package audit

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/certbind/certbind/internal/validate"
)

// Page sizes of List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Query selects an account's entries. Empty fields match everything.
type Query struct {
	Account    string
	ResourceID string
	Action     string
	Since      time.Time
	// Before lists only entries older than the one with this Seq (from a
	// page token); 0 lists from the newest.
	Before uint64
	// Others are the positions in other trails that a merged listing's
	// page token holds after Before.
	Others   []uint64
	PageSize int
}

func (q Query) matches(e *Entry) bool {
	return (q.ResourceID == "" || e.Resource.ID == q.ResourceID) &&
		(q.Action == "" || e.Action == q.Action)
}

// Request is a listing as a caller sent it, unchecked.
type Request struct {
	Account, ResourceID, Action, Since, PageToken string
	PageSize                                      int32
}

var (
	actionPattern   = regexp.MustCompile(`^[a-z][a-zA-Z]*(\.[a-z][a-zA-Z-]*)+$`)
	resourcePattern = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)
)

// Parse checks a listing request and returns its query. Every error is a
// *validate.Error naming the field and saying what to send.
func Parse(r Request, now time.Time) (Query, error) {
	q := Query{Account: r.Account, ResourceID: r.ResourceID, Action: r.Action}
	if r.Account != SystemAccount {
		if err := validate.Account(r.Account); err != nil {
			return Query{}, err
		}
	}
	if r.ResourceID != "" && !resourcePattern.MatchString(r.ResourceID) {
		return Query{}, &validate.Error{Field: "resource", Msg: fmt.Sprintf("resource %s is not a resource id (ids are letters, digits, _, $ and -, at most 64; e.g. crt_… or the id of an API key)", quoteShort(r.ResourceID))}
	}
	if r.Action != "" && !actionPattern.MatchString(r.Action) {
		return Query{}, &validate.Error{Field: "action", Msg: fmt.Sprintf("action %s is not an audit action (actions look like certificate.create, certificate.delete, apikey.revoke, deployment.deploy)", quoteShort(r.Action))}
	}
	if r.Since != "" {
		t, err := ParseSince(r.Since, now)
		if err != nil {
			return Query{}, err
		}
		q.Since = t
	}
	if r.PageToken != "" {
		positions, err := ParsePageToken(r.PageToken)
		if err != nil {
			return Query{}, err
		}
		q.Before, q.Others = positions[0], positions[1:]
	}
	switch {
	case r.PageSize < 0 || r.PageSize > MaxPageSize:
		return Query{}, &validate.Error{Field: "page_size", Msg: fmt.Sprintf("page size %d is out of range: use 1 to %d, or 0 for %d", r.PageSize, MaxPageSize, DefaultPageSize)}
	default:
		q.PageSize = int(r.PageSize)
	}
	return q, nil
}

// ParseSince reads a start time: an RFC 3339 time ("2026-12-01T00:00:00Z"),
// or a duration back from now ("24h", "90m", "7d").
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		if err == nil && (n < 0 || n > 36500) {
			err = fmt.Errorf("out of range")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < 0 {
		return time.Time{}, &validate.Error{Field: "since", Msg: fmt.Sprintf("since %s is neither a duration (24h, 90m, 7d) nor an RFC 3339 time (2026-12-01T00:00:00Z)", quoteShort(s))}
	}
	return now.Add(-d), nil
}

// Page tokens are "a1" and the positions where the page ended, 8 bytes
// each, base64url encoded: one for a trail, one per trail for a listing
// that merges several (certmgr merges the deploytracker's). They say where
// the page ended, nothing else: a token used with another account's
// listing only sets where that listing starts. Position 0 is "from the
// newest", 1 "nothing left" (sequences start at 1).
const tokenPrefix = "a1"

// maxPositions bounds how many trails a token may name.
const maxPositions = 4

// EncodePageToken returns the token of the page that ended at positions.
func EncodePageToken(positions ...uint64) string {
	b := []byte(tokenPrefix)
	for _, p := range positions {
		b = binary.BigEndian.AppendUint64(b, p)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParsePageToken reads a token of EncodePageToken. Each list of positions
// has one token only: decoding is strict, and the token must be spelled as
// EncodePageToken spells it.
func ParsePageToken(s string) ([]uint64, error) {
	bad := &validate.Error{Field: "page_token", Msg: fmt.Sprintf("page token %s is not one this service gave out: pass the nextPageToken of the previous page unchanged, or none for the first page", quoteShort(s))}
	if len(s) > 64 {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < len(tokenPrefix)+8 || (len(b)-len(tokenPrefix))%8 != 0 || string(b[:len(tokenPrefix)]) != tokenPrefix {
		return nil, bad
	}
	var positions []uint64
	for rest := b[len(tokenPrefix):]; len(rest) > 0; rest = rest[8:] {
		positions = append(positions, binary.BigEndian.Uint64(rest))
	}
	// The decoder skips line breaks: only the one spelling is a token.
	if len(positions) > maxPositions || EncodePageToken(positions...) != s {
		return nil, bad
	}
	return positions, nil
}

func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}
