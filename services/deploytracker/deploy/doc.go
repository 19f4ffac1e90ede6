// Package deploy holds the deploytracker's rules: a gateway config is parsed,
// its variables and certificate names resolved, and it is recorded as the
// environment's deployment only if every certificate it names is usable
// there. It knows nothing of gRPC; the api package maps its errors.
package deploy
