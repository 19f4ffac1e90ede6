package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/certbind/certbind/internal/tracing"
)

// maxResponseBytes bounds how much of a response the client reads. A full
// page of 1000 certificates with their chains stays far below it.
const maxResponseBytes = 64 << 20

// Client calls the certbind REST API: JSON bodies encoded with protojson,
// authenticated with a bearer key.
type Client struct {
	baseURL string // without a trailing slash
	apiKey  string
	http    *http.Client
	tracing *tracing.Tracing // sends the command span's traceparent; nil: none
}

// NewClient checks the API settings in g and returns a client for them. It
// fails, before any request, when the key is missing or the URL is unusable.
func NewClient(g *GlobalOptions) (*Client, error) {
	u, err := url.Parse(g.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErrorf("--api-url %q is not an http:// or https:// URL (e.g. %s; env %s)", g.APIURL, DefaultAPIURL, EnvAPIURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, usageErrorf("--api-url %q must not have a query or fragment (e.g. %s)", g.APIURL, DefaultAPIURL)
	}
	key := g.APIKey
	if key == "" && g.keyCommand != "" {
		var err error
		if key, err = runKeyCommand(context.Background(), g.keyCommand); err != nil {
			return nil, &classError{code: ExitNotAllowed, err: err}
		}
	}
	if key == "" {
		return nil, &classError{code: ExitNotAllowed, err: errors.New(`no API key: set --api-key or CERTBIND_API_KEY, or api-key-command in a profile ("certbind dev" prints a key when it starts)`)}
	}
	if g.Timeout <= 0 {
		return nil, usageErrorf("--timeout %s must be positive (e.g. 30s)", g.Timeout)
	}
	return &Client{
		baseURL: strings.TrimRight(u.String(), "/"),
		apiKey:  key,
		http:    &http.Client{Timeout: g.Timeout},
		tracing: g.tracing,
	}, nil
}

// APIError is an error answer from the API: the gRPC status the REST facade
// translated into HTTP.
type APIError struct {
	HTTPStatus int    // e.g. 404
	Code       int    // gRPC status code, e.g. 5 for NotFound
	Message    string // the server's message, written to tell the user what to fix
}

func (e *APIError) Error() string {
	// The server's refusals say what to do; the hint is for an answer
	// that does not already.
	if e.HTTPStatus == http.StatusUnauthorized && !strings.Contains(e.Message, EnvAPIKey) {
		return e.Message + " (set --api-key or " + EnvAPIKey + " to a valid key)"
	}
	return e.Message
}

// call sends one request. path must already be escaped (see pathf); in, when
// not nil, is the JSON body; out, when not nil, receives the JSON answer.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, in, out proto.Message) error {
	target := c.baseURL + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := protojson.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.apiKey)
	req.Header.Set("Accept", "application/json")
	c.tracing.Inject(ctx, req.Header)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if len(data) > maxResponseBytes {
		return fmt.Errorf("answer from certbind at %s is over %d MiB; use a smaller --page-size", c.baseURL, maxResponseBytes>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.statusError(resp, data)
	}
	if out == nil {
		return nil
	}
	// Unknown fields are skipped so that an older CLI keeps working against
	// a newer server.
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, out); err != nil {
		return fmt.Errorf("certbind at %s sent an answer this CLI cannot read (%v); is --api-url the certbind REST API?", c.baseURL, err)
	}
	return nil
}

// transportError explains a request that got no HTTP answer.
func (c *Client) transportError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("request to certbind at %s abandoned: %w", c.baseURL, ctxErr)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return unavailableError(fmt.Errorf("certbind at %s did not answer within %s (raise --timeout if it is just slow)", c.baseURL, c.http.Timeout))
	}
	return unavailableError(fmt.Errorf("cannot reach certbind at %s: %v (is \"certbind dev\" running? set --api-url or %s)", c.baseURL, unwrapURLError(err), EnvAPIURL))
}

// unwrapURLError drops the "Get \"http://...\":" prefix of *url.Error,
// since the caller names the server already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusError turns an error answer into *APIError. The REST facade answers
// with a JSON status {"code", "message", "details"}; anything else (a proxy's
// HTML page, say) is reported with its HTTP status and the start of its body.
func (c *Client) statusError(resp *http.Response, data []byte) error {
	if err := notTheAPI(c.baseURL, resp, data); err != nil {
		return err
	}
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(data, &st); err == nil && st.Message != "" {
		return &APIError{HTTPStatus: resp.StatusCode, Code: st.Code, Message: st.Message}
	}
	msg := fmt.Sprintf("certbind at %s answered %s", c.baseURL, resp.Status)
	if snippet := bodySnippet(data); snippet != "" {
		msg += ": " + snippet
	}
	return &APIError{HTTPStatus: resp.StatusCode, Message: msg}
}

// bodySnippet is the start of an answer's body, for an error message.
func bodySnippet(data []byte) string {
	snippet := strings.TrimSpace(string(data))
	if len(snippet) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(snippet[cut]) {
			cut-- // not inside a character
		}
		snippet = snippet[:cut] + "…"
	}
	return snippet
}

// pathf builds a URL path from a format whose verbs are all %s, escaping
// every argument as a single path segment, so a value cannot add segments
// or a query. ':' is escaped too, because the REST facade reads the text
// after the last ':' of a path as a custom method such as ":disable".
func pathf(format string, segments ...string) string {
	escaped := make([]any, len(segments))
	for i, s := range segments {
		escaped[i] = strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
	}
	return fmt.Sprintf(format, escaped...)
}
