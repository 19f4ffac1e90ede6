// Package material parses and checks certificate material that users upload:
// a client certificate with its chain and private key (as PEM files or one
// PKCS#12 file) for outbound mutual TLS, or CA certificates that verify
// backends.
//
// Everything here is untrusted input. Every size is bounded before parsing,
// every rejection is an *Error that says what was wrong and what to do about
// it, and no message ever quotes key bytes or PEM bodies, so errors can be
// returned to the client and logged as they are.
//
// Accepted material is normalized: the chain as PEM with the leaf first and
// nothing but CERTIFICATE blocks, the key as unencrypted PKCS#8 DER for the
// caller to seal at rest.
package material
