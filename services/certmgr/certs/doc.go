// Package certs holds certmgr's rules for certificates: what may be created,
// changed, disabled and deleted, by whom it was done (the audit line), and how
// private keys are sealed before they reach the store. It knows nothing of
// gRPC; the api package maps its errors to status codes.
package certs
