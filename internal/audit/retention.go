package audit

import "time"

// Defaults of Retention.
const (
	DefaultPerAccount = 10000
	DefaultMaxAge     = 90 * 24 * time.Hour
)

// Retention bounds what is kept: at most PerAccount entries per account, none
// older than MaxAge. Zero fields take the defaults.
type Retention struct {
	PerAccount int
	MaxAge     time.Duration
}

func (r Retention) withDefaults() Retention {
	if r.PerAccount <= 0 {
		r.PerAccount = DefaultPerAccount
	}
	if r.MaxAge <= 0 {
		r.MaxAge = DefaultMaxAge
	}
	return r
}
