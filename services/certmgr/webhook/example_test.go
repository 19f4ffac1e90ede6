package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/certbind/certbind/services/certmgr/webhook"
)

// verified is the receiver's check of docs/webhooks.md, as written there.
func verified(secret string, r *http.Request, body []byte) bool {
	ts := r.Header.Get("Certbind-Webhook-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false // refuse old or future timestamps: a replay
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(r.Header.Get("Certbind-Webhook-Signature")))
}

// A receiver checks a delivery signed as certmgr signs it with the code
// docs/webhooks.md gives.
func ExampleVerify() {
	secret := "whsec_example"
	body := []byte(`{"id":"dlv_0000000000000001","event":"certificate.expiring","daysBefore":7}`)
	now := time.Now().Unix()
	r, _ := http.NewRequest(http.MethodPost, "https://hooks.example.com/certbind", bytes.NewReader(body))
	r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now, 10))
	r.Header.Set(webhook.HeaderSignature, webhook.Sign([]byte(secret), now, body))

	fmt.Println(verified(secret, r, body))
	fmt.Println(verified("whsec_other", r, body))
	fmt.Println(verified(secret, r, append(body, ' ')))
	// Output:
	// true
	// false
	// false
}
