package store

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/certbind/certbind/internal/changefeed"
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

// Change is the result of one write: the deployment after it (nil for a
// delete) and before it (nil for the first deploy of an environment). It
// stays in memory; the changelog keeps its Entry.
type Change struct {
	Revision     uint64
	Type         string
	DeploymentID string
	Account      string
	Project      string
	Before       *Deployment
	After        *Deployment
	At           time.Time
}

// Entry is one changelog entry: what a stream's subscriber needs to decide
// whether a change concerns it and to fetch the deployment as it is now,
// without the deployment's config and variables.
type Entry struct {
	Revision     uint64 `json:"revision"`
	Type         string `json:"type"`
	DeploymentID string `json:"deploymentId"`
	Account      string `json:"account"`
	Project      string `json:"project"`
	// Before and After are where the deployment was before the change and
	// is after it (its environment type), nil where it did not or no
	// longer exists.
	Before *changefeed.Place `json:"beforePlace,omitempty"`
	After  *changefeed.Place `json:"afterPlace,omitempty"`
	// Generation is the deployment's generation after the change (before
	// it, for a delete).
	Generation int32     `json:"generation"`
	At         time.Time `json:"at"`
}

// Rev returns the entry's revision.
func (e Entry) Rev() uint64 { return e.Revision }

// Entry returns the changelog entry of c.
func (c Change) Entry() Entry {
	e := Entry{Revision: c.Revision, Type: c.Type, DeploymentID: c.DeploymentID, Account: c.Account, Project: c.Project,
		Before: c.Before.Place(), After: c.After.Place(), At: c.At}
	switch {
	case c.After != nil:
		e.Generation = c.After.Generation
	case c.Before != nil:
		e.Generation = c.Before.Generation
	}
	return e
}

// Place is where d is, for a stream's scope; nil for nil.
func (d *Deployment) Place() *changefeed.Place {
	if d == nil {
		return nil
	}
	return &changefeed.Place{Account: d.Account, Project: d.Project, EnvironmentTypes: []string{d.EnvironmentType}}
}

// decodeEntry reads a changelog entry, of either format: the deploytracker
// wrote whole deployments (before and after) into its entries before
// Entry, and data dirs keep them until the retention drops them.
func decodeEntry(v []byte) (Entry, error) {
	var e struct {
		Entry
		LegacyBefore *Deployment `json:"before"`
		LegacyAfter  *Deployment `json:"after"`
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return Entry{}, err
	}
	if e.LegacyBefore != nil || e.LegacyAfter != nil {
		return Change{Revision: e.Revision, Type: e.Type, DeploymentID: e.DeploymentID, Account: e.Account, Project: e.Project,
			Before: e.LegacyBefore, After: e.LegacyAfter, At: e.At}.Entry(), nil
	}
	return e.Entry, nil
}

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
