package material

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"strings"
	"time"
)

// checkClientChain checks that chain[0] can be presented as a client
// certificate at now and that every later certificate issued the one before
// it. field is where the chain came from (certificate file or PKCS#12).
//
// The order of the checks matters only for which problem is reported first:
// a chain in the wrong order is named as such before anything is said about
// its first certificate, which would be the wrong one.
func checkClientChain(chain []*x509.Certificate, field string, now time.Time) error {
	if err := checkRSASizes(chain, field); err != nil {
		return err
	}
	if err := checkLeafFirst(chain, field); err != nil {
		return err
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := checkIssued(chain, i, field); err != nil {
			return err
		}
	}
	if err := checkLeaf(chain[0], field, now); err != nil {
		return err
	}
	for i, c := range chain[1:] {
		if err := checkDates(i+1, c, field, now); err != nil {
			return err
		}
	}
	return nil
}

// checkRSASizes rejects huge RSA keys before any signature is checked with
// them: verification cost grows with the modulus, and TLS stacks refuse such
// keys anyway.
func checkRSASizes(certs []*x509.Certificate, field string) error {
	for i, c := range certs {
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() > maxRSABits {
			return errorf(field, "%s has a %d-bit RSA key; certbind accepts RSA keys of at most %d bits", describe(i, c), k.N.BitLen(), maxRSABits)
		}
	}
	return nil
}

// signedBy reports whether parent's key made child's signature.
func signedBy(child, parent *x509.Certificate) error {
	return parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
}

// issuedBy reports whether parent issued child: its subject is child's issuer
// and its key signed child.
func issuedBy(child, parent *x509.Certificate) bool {
	return bytes.Equal(child.RawIssuer, parent.RawSubject) && signedBy(child, parent) == nil
}

// checkLeafFirst reports a file whose first certificate issued another one in
// the file: then it is not the client certificate, and the message names the
// one that is, when exactly one certificate issued none of the others.
func checkLeafFirst(chain []*x509.Certificate, field string) error {
	child := -1
	for j := 1; j < len(chain); j++ {
		if issuedBy(chain[j], chain[0]) {
			child = j
			break
		}
	}
	if child < 0 {
		return nil
	}
	leaf := -1
	for k := range chain {
		if !issuesAnother(chain, k) {
			if leaf >= 0 {
				leaf = -1
				break
			}
			leaf = k
		}
	}
	if leaf > 0 {
		return errorf(field, "the certificates are out of order: %s is the client certificate; put it first, followed by the certificate that issued it, then that one's issuer, and so on", describe(leaf, chain[leaf]))
	}
	return errorf(field, "the certificates are out of order: %s issued %s, so it cannot be the client certificate; put the client certificate first, followed by the certificate that issued it, and so on", describe(0, chain[0]), describe(child, chain[child]))
}

func issuesAnother(chain []*x509.Certificate, k int) bool {
	for j := range chain {
		if j != k && issuedBy(chain[j], chain[k]) {
			return true
		}
	}
	return false
}

// checkIssued checks that chain[i+1] issued chain[i] and may issue
// certificates at all.
func checkIssued(chain []*x509.Certificate, i int, field string) error {
	child, parent := chain[i], chain[i+1]
	if !bytes.Equal(child.RawIssuer, parent.RawSubject) {
		if issuedBy(parent, child) {
			return errorf(field, "%s comes after %s, but it was issued by it: each certificate must be followed by the one that issued it, so reorder the file and remove certificates that are not in the client certificate's chain", describe(i+1, parent), describe(i, child))
		}
		return errorf(field, "%s did not issue %s, whose issuer is %q; replace it with that issuer's certificate, or remove it if the chain ends there", describe(i+1, parent), describe(i, child), clean(child.Issuer.String()))
	}
	if err := signedBy(child, parent); err != nil {
		var insecure x509.InsecureAlgorithmError
		if errors.As(err, &insecure) {
			return errorf(field, "%s is signed with %v, which is insecure and rejected by TLS stacks; have it reissued with a SHA-256 (or stronger) signature", describe(i, child), x509.SignatureAlgorithm(insecure))
		}
		return errorf(field, "%s has the name of %s's issuer but did not sign it: it is a different CA certificate with the same name (an old or re-keyed one); use the certificate that actually issued %s", describe(i+1, parent), describe(i, child), describe(i, child))
	}
	// Version 1 certificates predate basic constraints; old roots may still
	// be version 1, and TLS stacks accept them as issuers.
	if parent.Version == 3 && !parent.BasicConstraintsValid || parent.BasicConstraintsValid && !parent.IsCA {
		return errorf(field, "%s signed %s but is not a CA certificate (its basic constraints lack CA:TRUE), so backends will reject the chain; have the client certificate issued by a CA", describe(i+1, parent), describe(i, child))
	}
	if parent.KeyUsage != 0 && parent.KeyUsage&x509.KeyUsageCertSign == 0 {
		return errorf(field, "%s signed %s but its key usage lacks keyCertSign, so backends will reject the chain; have the client certificate issued by a proper CA", describe(i+1, parent), describe(i, child))
	}
	return nil
}

// checkLeaf checks what a TLS server asks of a client certificate.
func checkLeaf(leaf *x509.Certificate, field string, now time.Time) error {
	if leaf.IsCA {
		return errorf(field, "%s is a CA certificate (basic constraints CA:TRUE), not a client certificate; upload CA certificates with --ca, and put the client certificate first in this file", describe(0, leaf))
	}
	if !allowsClientAuth(leaf) {
		return errorf(field, "%s may not be used for client authentication: its extended key usage allows only %s; have a certificate issued with clientAuth in its extended key usage (OpenSSL: extendedKeyUsage = clientAuth)", describe(0, leaf), extKeyUsages(leaf))
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errorf(field, "%s has a key usage without digitalSignature, which a TLS client needs to prove it holds the key; have a certificate issued with keyUsage = digitalSignature", describe(0, leaf))
	}
	if name, ok := keyAlgorithm(leaf.PublicKey); !ok {
		return errorf(field, "%s has an unsupported key (%s); certbind accepts %s, so have a new certificate issued with one of those", describe(0, leaf), name, supportedKeys)
	}
	return checkDates(0, leaf, field, now)
}

// allowsClientAuth follows RFC 5280: without the extension any use is
// allowed; with it, clientAuth or anyExtendedKeyUsage must be listed.
func allowsClientAuth(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// extKeyUsages lists the extended key usages of c by their OpenSSL names.
func extKeyUsages(c *x509.Certificate) string {
	names := map[x509.ExtKeyUsage]string{
		x509.ExtKeyUsageServerAuth:      "serverAuth",
		x509.ExtKeyUsageCodeSigning:     "codeSigning",
		x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageTimeStamping:    "timeStamping",
		x509.ExtKeyUsageOCSPSigning:     "OCSPSigning",
		x509.ExtKeyUsageIPSECEndSystem:  "ipsecEndSystem",
		x509.ExtKeyUsageIPSECTunnel:     "ipsecTunnel",
		x509.ExtKeyUsageIPSECUser:       "ipsecUser",
	}
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, "another usage")
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out = append(out, oid.String())
	}
	return strings.Join(out, ", ")
}

// checkDates checks that certificate i of the chain is valid at now.
func checkDates(i int, c *x509.Certificate, field string, now time.Time) error {
	which := describe(i, c)
	if i == 0 {
		which = "the client certificate, " + which + ","
	}
	switch {
	case now.After(c.NotAfter):
		if i == 0 {
			return errorf(field, "%s expired on %s; renew it and upload the new certificate", which, date(c.NotAfter))
		}
		return errorf(field, "%s expired on %s; get the current intermediate from your CA and put it in place of the expired one", which, date(c.NotAfter))
	case now.Before(c.NotBefore):
		return errorf(field, "%s is not valid until %s (it is now %s); upload it once it is valid, or check the clock of the machine that issued it", which, date(c.NotBefore), date(now))
	}
	return nil
}
