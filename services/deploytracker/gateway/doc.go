// Package gateway reads a deployment's gateway config (gateway.json), the
// variables it is deployed with and the env files those variables come from.
//
// All three are untrusted input written by users, so everything is checked
// before it is returned, and every failure is an *Error whose message names
// the spot (route, option, variable or line) and says what to do. Parse
// resolves $env(NAME) references from the deployment's variables; it does not
// look certificates up. The names it finds are listed by
// Config.CertificateRefs for the caller to resolve against certmgr.
package gateway
