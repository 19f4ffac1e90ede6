package webhook

import "time"

// Event types.
const (
	EventExpiring = "certificate.expiring"
	EventExpired  = "certificate.expired"
	EventCreated  = "certificate.created"
	EventRotated  = "certificate.rotated"
	EventDisabled = "certificate.disabled"
	EventEnabled  = "certificate.enabled"
	EventDeleted  = "certificate.deleted"
	// EventDeployRefused is a deploy refused because of a certificate.
	EventDeployRefused = "deploy.refused"
)

// Events lists every event type, in the order the documentation gives.
var Events = []string{EventExpiring, EventExpired, EventCreated, EventRotated, EventDisabled, EventEnabled, EventDeleted, EventDeployRefused}

// Thresholds are the days before notAfter at which a certificate is
// announced as expiring, largest first.
var Thresholds = []int{30, 14, 7, 1}

// Delivery states.
const (
	StatePending   = "pending"
	StateSending   = "sending"
	StateDelivered = "delivered"
	StateFailed    = "failed"
)

// Hook is a stored webhook. SealedSecret is its secret sealed with the
// master key; it never leaves this package.
type Hook struct {
	ID           string    `json:"id"`
	Account      string    `json:"account"`
	Name         string    `json:"name"`
	URL          string    `json:"url"`
	Events       []string  `json:"events,omitempty"`
	SealedSecret []byte    `json:"sealedSecret"`
	CreatedAt    time.Time `json:"createdAt"`
}

// wants reports whether h is sent events of type event.
func (h *Hook) wants(event string) bool {
	if len(h.Events) == 0 {
		return true
	}
	for _, e := range h.Events {
		if e == event {
			return true
		}
	}
	return false
}

// Delivery is one event for one webhook, and what became of it. Body is
// the JSON sent, fixed when the event was recorded, so that every attempt
// sends the same bytes.
type Delivery struct {
	ID              string    `json:"id"`
	Seq             uint64    `json:"seq"`
	Account         string    `json:"account"`
	WebhookID       string    `json:"webhookId"`
	Event           string    `json:"event"`
	CertificateID   string    `json:"certificateId"`
	CertificateName string    `json:"certificateName"`
	Body            []byte    `json:"body"`
	State           string    `json:"state"`
	Attempts        int       `json:"attempts"`
	NextAttempt     time.Time `json:"nextAttempt"`
	ClaimUntil      time.Time `json:"claimUntil,omitzero"`
	LastStatus      int       `json:"lastStatus,omitempty"`
	LastError       string    `json:"lastError,omitempty"`
	Excerpt         string    `json:"excerpt,omitempty"`
	CreatedAt       time.Time `json:"createdAt"`
	DeliveredAt     time.Time `json:"deliveredAt,omitzero"`
}

// tracked is what the webhook file knows of a certificate: its metadata
// for events about it (a deleted one's included), and the smallest
// expiry threshold already announced for its version (-1 for none, 0 for
// expired).
type tracked struct {
	ID          string    `json:"id"`
	Account     string    `json:"account"`
	Project     string    `json:"project"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprintSha256"`
	NotAfter    time.Time `json:"notAfter"`
	Version     int32     `json:"version"`
	State       string    `json:"state"`
	Announced   int       `json:"announced"`
}

// Payload is the JSON body of a delivery. It carries metadata only, never
// certificate material.
type Payload struct {
	ID          string             `json:"id"`
	Event       string             `json:"event"`
	Time        time.Time          `json:"time"`
	Account     string             `json:"account"`
	Certificate PayloadCertificate `json:"certificate"`
	// DaysBefore is the threshold of an expiring event: 30, 14, 7 or 1.
	DaysBefore int `json:"daysBefore,omitempty"`
	// Deploy is the deploy a deploy.refused event is about.
	Deploy *PayloadDeploy `json:"deploy,omitempty"`
}

// PayloadDeploy is a refused deploy: where it was for, and the error it
// got.
type PayloadDeploy struct {
	Environment string `json:"environment"`
	Reason      string `json:"reason"`
}

// PayloadCertificate is the certificate an event is about.
type PayloadCertificate struct {
	ID                string    `json:"id"`
	Project           string    `json:"project"`
	Name              string    `json:"name"`
	FingerprintSHA256 string    `json:"fingerprintSha256,omitempty"`
	NotAfter          time.Time `json:"notAfter,omitzero"`
	Version           int32     `json:"version,omitempty"`
}
