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
//
// The rest of certmgr reaches the store through interfaces of its own
// (certs.Certificates, api.CertificateFeed, auth.KeyStore and
// auth.KeyLifecycle, masterkey.Resealer), which another backend can
// implement; storetest holds any backend to the rules they rely on. What
// only a bbolt file has stays here, behind optional interfaces or on the
// concrete type: Backup and Restamp (a file copy and its new epoch),
// the scans for verify (certs.Scanner), the re-seal walks by record key
// and changelog entry (masterkey.Resealer), and the start-up checks of the
// master key (KeyCheck, SetKeyCheck, HasCertificates, ForEachSealedKey),
// which certmgr's main wires to this store directly.
package store
