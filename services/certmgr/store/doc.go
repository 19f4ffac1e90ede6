// Package store keeps certmgr's state in a bbolt file: certificates (public
// chain, sealed private key, metadata, state), a changelog with one entry per
// write, and API key hashes.
//
// Every write runs in one bbolt transaction that bumps the revision, changes
// the certificate and appends the change to the changelog, so the changelog
// can never disagree with the certificates. bbolt fsyncs on commit: a write
// that returned nil survives kill -9.
//
// The store never sees a plaintext private key: callers seal keys before
// handing records in.
package store
