package store

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Deployment is the stored form of a deployment.
type Deployment struct {
	ID              string            `json:"id"`
	Account         string            `json:"account"`
	Project         string            `json:"project"`
	Environment     string            `json:"environment"`
	EnvironmentType string            `json:"environmentType"`
	Generation      int32             `json:"generation"`
	Config          json.RawMessage   `json:"config"`
	Variables       map[string]string `json:"variables,omitempty"`
	Routes          []Route           `json:"routes"`
	References      []Reference       `json:"references"`
	CreatedAt       time.Time         `json:"createdAt"`
	UpdatedAt       time.Time         `json:"updatedAt"`
	Revision        uint64            `json:"revision"`
	// Damaged is never stored: it is set on a stand-in read back for a
	// record that does not decode (see ErrUndecodable).
	Damaged string `json:"-"`
}

// Route is a resolved route.
type Route struct {
	Path                string   `json:"path"`
	Methods             []string `json:"methods,omitempty"`
	Handler             string   `json:"handler"`
	BaseURL             string   `json:"baseUrl,omitempty"`
	RewritePattern      string   `json:"rewritePattern,omitempty"`
	MTLSCertificateID   string   `json:"mtlsCertificateId,omitempty"`
	MTLSCertificateName string   `json:"mtlsCertificateName,omitempty"`
	CACertificateID     string   `json:"caCertificateId,omitempty"`
	CACertificateName   string   `json:"caCertificateName,omitempty"`
}

// Reference is one use of a certificate by a route.
type Reference struct {
	CertificateID   string `json:"certificateId"`
	CertificateName string `json:"certificateName"`
	Kind            string `json:"kind"`
	RoutePath       string `json:"routePath"`
	Option          string `json:"option"`
}

// Pending is a deploy in progress: written before the deploytracker asks
// certmgr whether its certificates are still usable, removed when the deploy
// commits or fails.
type Pending struct {
	Token           string      `json:"token"`
	Account         string      `json:"account"`
	Project         string      `json:"project"`
	Environment     string      `json:"environment"`
	EnvironmentType string      `json:"environmentType"`
	References      []Reference `json:"references"`
	StartedAt       time.Time   `json:"startedAt"`
}

// Use is one deployment, committed or in progress, that uses a certificate.
type Use struct {
	DeploymentID    string // empty for the first deploy of an environment still in progress
	Environment     string
	EnvironmentType string
	InProgress      bool
}

// Change types.
const (
	ChangeDeployed = "deployed"
	ChangeDeleted  = "deleted"
)

// Change is one changelog entry: the deployment after the change (nil for a
// delete) and before it.
type Change struct {
	Revision     uint64      `json:"revision"`
	Type         string      `json:"type"`
	DeploymentID string      `json:"deploymentId"`
	Account      string      `json:"account"`
	Project      string      `json:"project"`
	Before       *Deployment `json:"before,omitempty"`
	After        *Deployment `json:"after,omitempty"`
	At           time.Time   `json:"at"`
}

// Rev returns the change's revision.
func (c Change) Rev() uint64 { return c.Revision }

func (d *Deployment) clone() *Deployment {
	if d == nil {
		return nil
	}
	out := *d
	out.Config = slices.Clone(d.Config)
	out.Variables = maps.Clone(d.Variables)
	out.Routes = slices.Clone(d.Routes)
	for i := range out.Routes {
		out.Routes[i].Methods = slices.Clone(out.Routes[i].Methods)
	}
	out.References = slices.Clone(d.References)
	return &out
}

func (c Change) clone() Change {
	c.Before, c.After = c.Before.clone(), c.After.clone()
	return c
}
