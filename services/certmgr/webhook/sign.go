package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// The headers of every delivery.
const (
	// HeaderID is the delivery's id: the same on every attempt, so a
	// receiver can drop a delivery it has already handled.
	HeaderID = "Certbind-Webhook-Id"
	// HeaderTimestamp is when the attempt was signed, in Unix seconds.
	HeaderTimestamp = "Certbind-Webhook-Timestamp"
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// webhook's secret, of SignedString(timestamp, body).
	HeaderSignature = "Certbind-Webhook-Signature"
	// HeaderEvent is the event type, e.g. "certificate.expiring".
	HeaderEvent = "Certbind-Webhook-Event"
)

// SignedString is what a delivery's signature covers: the timestamp
// header's value, a full stop, and the request body as sent.
func SignedString(timestamp string, body []byte) []byte {
	b := make([]byte, 0, len(timestamp)+1+len(body))
	b = append(b, timestamp...)
	b = append(b, '.')
	return append(b, body...)
}

// Sign returns the value of HeaderSignature for body sent at unix time ts.
func Sign(secret []byte, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(SignedString(strconv.FormatInt(ts, 10), body))
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature (HeaderSignature's value) is the
// signature of body at timestamp (HeaderTimestamp's value) with secret.
// Receivers should also refuse a timestamp far from their clock.
func Verify(secret []byte, timestamp, signature string, body []byte) bool {
	got, ok := strings.CutPrefix(signature, "v1=")
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(SignedString(timestamp, body))
	return hmac.Equal(sum, mac.Sum(nil))
}
