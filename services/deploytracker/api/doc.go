// Package api serves the deploytracker's gRPC services: DeploymentService
// (REST through the facade), DeploymentDistributionService (edges) and
// ReferenceService (certmgr). Handlers check the caller, delegate to
// deploy.Tracker and map its errors.
package api
