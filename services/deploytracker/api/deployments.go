package api

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/certbind/certbind/internal/auth"
	"github.com/certbind/certbind/internal/validate"
	deploytrackerv1 "github.com/certbind/certbind/proto/certbind/deploytracker/v1"
	"github.com/certbind/certbind/services/deploytracker/deploy"
	"github.com/certbind/certbind/services/deploytracker/store"
)

// Deployments serves DeploymentService.
type Deployments struct {
	deploytrackerv1.UnimplementedDeploymentServiceServer
	t   *deploy.Tracker
	url URLs
	log *slog.Logger
}

// NewDeployments returns the DeploymentService handlers.
func NewDeployments(t *deploy.Tracker, url URLs, log *slog.Logger) *Deployments {
	return &Deployments{t: t, url: url, log: log}
}

// Deploy records a deployment, or with validate_only checks it and records
// nothing.
func (s *Deployments) Deploy(ctx context.Context, req *deploytrackerv1.DeployRequest) (*deploytrackerv1.DeployResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	if req.GetConfig() == nil {
		return nil, toStatus(ctx, s.log, "Deploy", &validate.Error{Field: "config", Msg: "no gateway config: send the gateway.json object as \"config\" (the CLI reads --config)"})
	}
	cfg, err := protojson.Marshal(req.GetConfig())
	if err != nil {
		return nil, toStatus(ctx, s.log, "Deploy", &validate.Error{Field: "config", Msg: fmt.Sprintf("the gateway config cannot be encoded: %v", err)})
	}
	in := deploy.Input{
		Account: req.GetAccount(), Project: req.GetProject(), Environment: req.GetEnvironment(),
		EnvironmentType: req.GetEnvironmentType(), Config: cfg, Variables: req.GetVariables(),
	}
	var d *store.Deployment
	if req.GetValidateOnly() {
		d, err = s.t.DryRun(ctx, in)
	} else {
		d, err = s.t.Deploy(ctx, actor, in)
	}
	if err != nil {
		if req.GetValidateOnly() {
			return nil, toStatus(ctx, s.log, "Deploy", err)
		}
		return nil, refused(ctx, s.log, s.t, "Deploy", "deployment.deploy", actor, deploymentResource(req.GetAccount(), req.GetProject(), "", req.GetEnvironment()), err)
	}
	return &deploytrackerv1.DeployResponse{Deployment: toProto(d, s.url)}, nil
}

// ListDeployments lists a project's deployments.
func (s *Deployments) ListDeployments(ctx context.Context, req *deploytrackerv1.ListDeploymentsRequest) (*deploytrackerv1.ListDeploymentsResponse, error) {
	if _, err := auth.Manager(ctx, req.GetAccount()); err != nil {
		return nil, err
	}
	list, err := s.t.List(req.GetAccount(), req.GetProject(), req.GetEnvironment())
	if err != nil {
		return nil, toStatus(ctx, s.log, "ListDeployments", err)
	}
	out := &deploytrackerv1.ListDeploymentsResponse{Deployments: make([]*deploytrackerv1.Deployment, 0, len(list))}
	for _, d := range list {
		out.Deployments = append(out.Deployments, toProto(d, s.url))
	}
	return out, nil
}

// GetDeployment describes one deployment.
func (s *Deployments) GetDeployment(ctx context.Context, req *deploytrackerv1.GetDeploymentRequest) (*deploytrackerv1.GetDeploymentResponse, error) {
	if _, err := auth.Manager(ctx, req.GetAccount()); err != nil {
		return nil, err
	}
	d, err := s.t.Get(req.GetAccount(), req.GetProject(), req.GetId())
	if err != nil {
		return nil, toStatus(ctx, s.log, "GetDeployment", err)
	}
	return &deploytrackerv1.GetDeploymentResponse{Deployment: toProto(d, s.url)}, nil
}

// DeleteDeployment removes a deployment.
func (s *Deployments) DeleteDeployment(ctx context.Context, req *deploytrackerv1.DeleteDeploymentRequest) (*deploytrackerv1.DeleteDeploymentResponse, error) {
	actor, err := auth.Manager(ctx, req.GetAccount())
	if err != nil {
		return nil, err
	}
	d, err := s.t.Delete(ctx, actor, req.GetAccount(), req.GetProject(), req.GetId())
	if err != nil {
		return nil, refused(ctx, s.log, s.t, "DeleteDeployment", "deployment.delete", actor, deploymentResource(req.GetAccount(), req.GetProject(), req.GetId(), ""), err)
	}
	return &deploytrackerv1.DeleteDeploymentResponse{Id: d.ID}, nil
}
