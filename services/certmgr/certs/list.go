package certs

import (
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/certbind/certbind/internal/validate"
	"github.com/certbind/certbind/services/certmgr/store"
)

// ExpiringSoon is the window in which a certificate counts as expiring soon.
const ExpiringSoon = 30 * 24 * time.Hour

// Listing defaults and limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// ListQuery selects certificates of one project.
type ListQuery struct {
	Account, Project   string
	EnvironmentType    string
	State              string
	ExpiringWithinDays int32
	Name               string
	PageSize           int32
	PageToken          string
}

// List returns one page of a project's certificates, ordered by name, and
// the token of the next page ("" on the last).
func (m *Manager) List(q ListQuery) ([]*store.Certificate, string, error) {
	if err := checkScope(q.Account, q.Project); err != nil {
		return nil, "", err
	}
	if q.EnvironmentType != "" {
		if err := validate.EnvironmentType(q.EnvironmentType).Validate(); err != nil {
			return nil, "", err
		}
	}
	switch q.State {
	case "", store.StateActive, store.StateDisabled:
	default:
		return nil, "", &InputError{Field: "state", Msg: fmt.Sprintf("state %q is not known: use active or disabled", truncate(q.State, 32))}
	}
	if q.ExpiringWithinDays < 0 || q.ExpiringWithinDays > 3650 {
		return nil, "", &InputError{Field: "expiringWithinDays", Msg: fmt.Sprintf("expiring within %d days is out of range: use 0 to 3650 days", q.ExpiringWithinDays)}
	}
	if q.Name != "" {
		if err := validate.CertificateName(q.Name); err != nil {
			return nil, "", err
		}
	}
	size := int(q.PageSize)
	switch {
	case size == 0:
		size = DefaultPageSize
	case size < 0 || size > MaxPageSize:
		return nil, "", &InputError{Field: "pageSize", Msg: fmt.Sprintf("page size %d is out of range: use 1 to %d", q.PageSize, MaxPageSize)}
	}
	after := ""
	if q.PageToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.PageToken)
		if err != nil || validate.CertificateName(string(b)) != nil {
			return nil, "", &InputError{Field: "pageToken", Msg: "the page token is not one this server issued: start again without it"}
		}
		after = string(b)
	}
	all, err := m.store.ListCertificates(q.Account, q.Project, after)
	if err != nil {
		return nil, "", err
	}
	now := m.now()
	var page []*store.Certificate
	for i, c := range all {
		if !matches(c, q, now) {
			continue
		}
		if len(page) == size {
			// There is at least one more match: the next page starts
			// after the last one sent.
			if slices.ContainsFunc(all[i:], func(c *store.Certificate) bool { return matches(c, q, now) }) {
				return page, base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].Name)), nil
			}
			break
		}
		page = append(page, c)
	}
	return page, "", nil
}

func matches(c *store.Certificate, q ListQuery, now time.Time) bool {
	if q.Name != "" && c.Name != q.Name {
		return false
	}
	if q.State != "" && c.State != q.State {
		return false
	}
	if q.EnvironmentType != "" && !slices.Contains(c.EnvironmentTypes, q.EnvironmentType) {
		return false
	}
	if q.ExpiringWithinDays > 0 && c.NotAfter.After(now.Add(time.Duration(q.ExpiringWithinDays)*24*time.Hour)) {
		return false
	}
	return true
}

// DaysUntilExpiry is the whole days from now to notAfter, negative once
// expired.
func DaysUntilExpiry(notAfter, now time.Time) int32 {
	d := notAfter.Sub(now)
	days := int32(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days-- // floor, so a certificate that expired an hour ago shows -1
	}
	return days
}
