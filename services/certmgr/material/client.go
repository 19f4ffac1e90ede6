package material

import (
	"crypto/x509"
	"time"
)

// Limits on uploads. Sizes are checked before any parsing, so an oversized
// input costs nothing but the comparison.
const (
	MaxCertificatePEM = 64 << 10  // client certificate file with intermediates
	MaxKeyPEM         = 16 << 10  // a PEM private key; RSA 8192 needs about 6.5 KiB
	MaxPKCS12         = 128 << 10 // a PKCS#12 file
	MaxCAPEM          = 256 << 10 // a CA bundle for ParseCA
	MaxPassphrase     = 1024      // a key passphrase or PKCS#12 password, in bytes
	MaxChainLength    = 10        // certificates in a client upload, leaf included
	MaxCABundle       = 50        // certificates in a CA upload
)

// Input is one client certificate upload: either CertificatePEM and KeyPEM
// (with KeyPassphrase if the key is encrypted), or PKCS12 with
// PKCS12Password.
type Input struct {
	CertificatePEM []byte // the client certificate first, then optional intermediates
	KeyPEM         []byte
	KeyPassphrase  string
	PKCS12         []byte
	PKCS12Password string
}

// Info describes a certificate for listings and logs.
type Info struct {
	Subject           string
	Issuer            string
	SerialNumber      string // lower-case hex without colons
	FingerprintSHA256 string // lower-case hex of SHA-256 over the DER certificate
	KeyAlgorithm      string // "ECDSA P-256", "RSA 2048", "Ed25519", ...
	NotBefore         time.Time
	NotAfter          time.Time
	DNSNames          []string
}

// Client is accepted client certificate material.
type Client struct {
	Chain    []*x509.Certificate // the client certificate first, then each one's issuer
	ChainPEM []byte              // Chain as PEM: CERTIFICATE blocks only, no headers
	// PrivateKeyDER is the private key as unencrypted PKCS#8 DER. It must be
	// encrypted before it is stored and never be logged.
	PrivateKeyDER []byte
	Info          Info // of the client certificate
}

// ParseClient parses and checks a client certificate upload at time now. It
// accepts the material only if the certificate can be presented for client
// authentication right now: valid at now, allowed for clientAuth, not a CA,
// with a supported key that matches the private key, and followed by
// intermediates that each issued the certificate before them. Every
// rejection is an *Error.
func ParseClient(in Input, now time.Time) (*Client, error) {
	if err := checkClientSizes(in); err != nil {
		return nil, err
	}
	pemGiven := len(in.CertificatePEM) > 0 || len(in.KeyPEM) > 0
	switch {
	case pemGiven && len(in.PKCS12) > 0:
		return nil, errorf(FieldPKCS12, "both PEM files and a PKCS#12 file were given; upload either the certificate with --cert and the key with --key, or the PKCS#12 file alone")
	case len(in.PKCS12) > 0:
		if in.KeyPassphrase != "" {
			return nil, errorf(FieldPassphrase, "a key passphrase was given with a PKCS#12 file, which has a password of its own; give that as the PKCS#12 password and leave out --key-passphrase")
		}
		return parseClientPKCS12(in.PKCS12, in.PKCS12Password, now)
	case !pemGiven:
		return nil, errorf(FieldCertificate, "no certificate was given; pass the client certificate with --cert and its private key with --key")
	case in.PKCS12Password != "":
		return nil, errorf(FieldPassphrase, "a PKCS#12 password was given without a PKCS#12 file; for an encrypted PEM key use --key-passphrase")
	case len(in.CertificatePEM) == 0:
		return nil, errorf(FieldCertificate, "a private key was given without its certificate; pass the client certificate with --cert")
	case len(in.KeyPEM) == 0:
		return nil, errorf(FieldKey, "no private key was given; pass the client certificate's private key with --key")
	}

	chain, err := parseChainPEM(in.CertificatePEM)
	if err != nil {
		return nil, err
	}
	if err := checkClientChain(chain, FieldCertificate, now); err != nil {
		return nil, err
	}
	key, pkcs8, err := parseKeyPEM(in.KeyPEM, in.KeyPassphrase)
	if err != nil {
		return nil, err
	}
	return newClient(chain, key, pkcs8, FieldKey)
}

// checkClientSizes rejects oversized input before anything reads it.
func checkClientSizes(in Input) error {
	switch {
	case len(in.CertificatePEM) > MaxCertificatePEM:
		return tooLarge(FieldCertificate, "certificate file", len(in.CertificatePEM), MaxCertificatePEM, "it should hold only the client certificate and its intermediates")
	case len(in.KeyPEM) > MaxKeyPEM:
		return tooLarge(FieldKey, "key file", len(in.KeyPEM), MaxKeyPEM, "it should hold only one private key")
	case len(in.PKCS12) > MaxPKCS12:
		return tooLarge(FieldPKCS12, "PKCS#12 file", len(in.PKCS12), MaxPKCS12, "it should hold only the client certificate, its key and its intermediates")
	case len(in.KeyPassphrase) > MaxPassphrase:
		return errorf(FieldPassphrase, "the key passphrase is %d bytes long, more than the %d allowed; re-encrypt the key with a shorter one", len(in.KeyPassphrase), MaxPassphrase)
	case len(in.PKCS12Password) > MaxPassphrase:
		return errorf(FieldPassphrase, "the PKCS#12 password is %d bytes long, more than the %d allowed; export the file again with a shorter one", len(in.PKCS12Password), MaxPassphrase)
	}
	return nil
}

func tooLarge(field, what string, size, limit int, hint string) *Error {
	return errorf(field, "the %s is %d bytes, more than the limit of %d bytes (%d KiB); %s", what, size, limit, limit>>10, hint)
}
