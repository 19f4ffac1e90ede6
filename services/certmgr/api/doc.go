// Package api serves certmgr's gRPC services: CertificateService and
// ApiKeyService (exposed over REST by the facade) and DistributionService
// (gRPC only, the one way private keys leave certmgr). Handlers check the
// caller's account, delegate to certs.Manager and map its errors.
package api
