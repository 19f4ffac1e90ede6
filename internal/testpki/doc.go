// Package testpki makes real X.509 certificates and private keys in memory
// for tests: a root CA, intermediates and leaves in every key type and
// encoding that certbind has to accept or reject.
//
// Every function takes a testing.TB and fails the test on error, so a test
// reads as a description of the PKI it needs:
//
//	root := testpki.NewCA(t, "Test Root")
//	inter := root.Issue(t, testpki.Options{CommonName: "Test Intermediate", IsCA: true})
//	leaf := inter.Issue(t, testpki.Options{CommonName: "client"})
//	certPEM := testpki.ChainPEM(leaf, inter)
//
// Nothing here is fit for production use: keys are generated quickly and
// passphrases are whatever the test passes.
package testpki
