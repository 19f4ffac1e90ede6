package material

import (
	"crypto/x509"
	"time"
)

// CA is an accepted CA certificate upload, used to verify backends.
type CA struct {
	Certs []*x509.Certificate
	PEM   []byte // Certs as PEM: CERTIFICATE blocks only, no headers
	Info  Info   // of the first certificate
}

// ParseCA parses and checks a CA upload at time now: one or more PEM
// certificates, each a CA (basic constraints CA:TRUE) valid at now. The file
// must not hold a private key: certbind only needs the certificate to verify
// a backend, and a CA key has no business leaving the CA. Every rejection is
// an *Error with Field FieldCertificate.
func ParseCA(pemBytes []byte, now time.Time) (*CA, error) {
	if len(pemBytes) > MaxCAPEM {
		return nil, tooLarge(FieldCertificate, "CA file", len(pemBytes), MaxCAPEM, "it should hold only the CA certificates that verify your backends")
	}
	blocks, err := certBlocks(pemBytes, caFile, "a CA upload takes no key, so delete it from the file and keep it with the CA")
	if err != nil {
		return nil, err
	}
	if len(blocks) > MaxCABundle {
		return nil, errorf(FieldCertificate, "the CA file holds %d certificates, more than the %d allowed; keep only the CAs that issued your backends' certificates", len(blocks), MaxCABundle)
	}
	certs, err := parseCertificates(blocks, caFile)
	if err != nil {
		return nil, err
	}
	for i, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, errorf(FieldCertificate, "%s is not a CA certificate (its basic constraints lack CA:TRUE); a --ca upload holds only CA certificates, and a client certificate is uploaded without --ca", describe(i, c))
		}
		switch {
		case now.After(c.NotAfter):
			return nil, errorf(FieldCertificate, "%s expired on %s; get the CA's current certificate and upload that", describe(i, c), date(c.NotAfter))
		case now.Before(c.NotBefore):
			return nil, errorf(FieldCertificate, "%s is not valid until %s (it is now %s); upload it once it is valid", describe(i, c), date(c.NotBefore), date(now))
		}
	}
	return &CA{Certs: certs, PEM: encodeChain(certs), Info: newInfo(certs[0])}, nil
}
