// Package etcdstore keeps certmgr's certificates, API keys and master key
// check value in etcd, so that several replicas of certmgr can serve the
// same data. It is the second backend of certs.Certificates and of auth's
// KeyStore and KeyLifecycle (store.Store, on bbolt, is the first) and
// passes the same conformance suite (store/storetest).
//
// Under the store's prefix P:
//
//	P certs/ACCOUNT/PROJECT/ID      the certificate (JSON, as bbolt stores it; the private key sealed)
//	P names/ACCOUNT/PROJECT/NAME    the id of the certificate with that name
//	P apikeys/HASH                  an API key record (only the hash of its secret)
//	P meta/epoch                    the store's epoch
//	P meta/masterKeyCheck           the check value of the master key the data is sealed with
//
// Accounts and projects are validated slugs, names JavaScript identifiers
// and ids generated, so none holds a "/" and a project's keys are one
// prefix. Private keys reach the store sealed with the master key, exactly
// as the bbolt store keeps them: etcd never sees a plaintext key.
//
// Every write is one transaction whose comparisons hold it to what it read:
// a name is taken by the transaction that creates its key (create revision
// 0), so of two replicas creating one name exactly one wins; an update or
// delete holds only if the record's modification revision is still the one
// its function saw, and otherwise reads again and reruns it. A record's
// Revision is its key's modification revision, etcd's, so it is not stored
// in the value. Reads are linearizable.
//
// Not implemented yet: the change feed (Revision, ChangesSince,
// SetPublisher: the watch cache fed by an etcd watch of the prefix), so
// this store is not yet an api.CertificateFeed and certmgr cannot run on
// it; and master key rotation (masterkey.Resealer), whose walks follow the
// bbolt file's layout.
package etcdstore
