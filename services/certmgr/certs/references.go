package certs

import "context"

// Reference is a deployment that uses a certificate.
type Reference struct {
	DeploymentID    string
	Environment     string
	EnvironmentType string
	// InProgress marks a deploy that has recorded its references but not
	// committed yet; it blocks a delete like a finished one.
	InProgress bool
}

// References answers which deployments use a certificate. The deploytracker
// provides it; certmgr asks it before a delete or before taking an
// environment type away.
type References interface {
	CertificateReferences(ctx context.Context, account, project, certificateID string) ([]Reference, error)
}

// NoReferences is the References of a suite without a deploytracker:
// nothing references any certificate.
type NoReferences struct{}

// CertificateReferences returns no references.
func (NoReferences) CertificateReferences(context.Context, string, string, string) ([]Reference, error) {
	return nil, nil
}
