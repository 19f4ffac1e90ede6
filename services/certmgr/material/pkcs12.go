package material

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// exportP12 is how to make a PKCS#12 file certbind reads.
const exportP12 = "`openssl pkcs12 -export -in cert.pem -inkey key.pem -certfile intermediates.pem -out client.p12`"

// parseClientPKCS12 reads a client certificate, its key and intermediates
// from a PKCS#12 file and checks them like a PEM upload.
func parseClientPKCS12(data []byte, password string, now time.Time) (*Client, error) {
	if hasPEM(data) {
		return nil, errorf(FieldPKCS12, "the PKCS#12 file is PEM text, but PKCS#12 is binary; upload PEM files as the certificate (--cert) and key (--key) instead")
	}
	if err := checkPKCS12Work(data); err != nil {
		return nil, err
	}
	key, cert, cas, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, pkcs12Error(err, password)
	}
	signer, err := supportedSigner(key, FieldPKCS12)
	if err != nil {
		return nil, err
	}
	certs := uniqueCerts(append([]*x509.Certificate{cert}, cas...))
	if len(certs) > MaxChainLength {
		return nil, errorf(FieldPKCS12, "the PKCS#12 file holds %d certificates, more than the %d allowed; export it again with only the client certificate and its intermediates", len(certs), MaxChainLength)
	}
	if err := checkRSASizes(certs, FieldPKCS12); err != nil {
		return nil, err
	}
	leaf, others, err := leafForKey(certs, signer)
	if err != nil {
		return nil, err
	}
	chain, unrelated := orderChain(leaf, others)
	if len(unrelated) > 0 {
		return nil, errorf(FieldPKCS12, "the PKCS#12 file holds a certificate (%s) that is not in the chain of the client certificate (%s); export it again with only the client certificate, its key and its intermediates, e.g. %s", subjectName(unrelated[0]), subjectName(leaf), exportP12)
	}
	if err := checkClientChain(chain, FieldPKCS12, now); err != nil {
		return nil, err
	}
	return newClient(chain, signer, nil, FieldPKCS12)
}

// pkcs12Error turns a go-pkcs12 error into a message. Its texts name
// structures, never contents, so they can be passed on as detail.
func pkcs12Error(err error, password string) error {
	// A file without a MAC shows a wrong password only as bad padding, and
	// go-pkcs12 reports that inside a string for key bags.
	wrong := errors.Is(err, pkcs12.ErrIncorrectPassword) || errors.Is(err, pkcs12.ErrDecryption) ||
		strings.Contains(err.Error(), pkcs12.ErrDecryption.Error())
	switch {
	case wrong && password == "":
		return errorf(FieldPassphrase, "the PKCS#12 file is protected by a password; give its password with the upload")
	case wrong:
		return errorf(FieldPassphrase, "the PKCS#12 password is wrong; check it and upload again")
	}
	detail := clean(strings.TrimPrefix(err.Error(), "pkcs12: "))
	var notImpl pkcs12.NotImplementedError
	if errors.As(err, &notImpl) {
		return errorf(FieldPKCS12, "the PKCS#12 file uses a feature certbind does not support (%s); export it again, e.g. with %s", detail, exportP12)
	}
	return errorf(FieldPKCS12, "the PKCS#12 file cannot be read (%s); export it again, e.g. with %s", detail, exportP12)
}

// uniqueCerts drops repeated certificates; exporters sometimes put the
// client certificate among the CA certificates as well.
func uniqueCerts(certs []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range certs {
		dup := false
		for _, o := range out {
			dup = dup || bytes.Equal(c.Raw, o.Raw)
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out
}

// leafForKey finds the certificate for key. PKCS#12 marks the pair with a
// localKeyID attribute, but not every exporter sets it, and go-pkcs12 simply
// calls the first certificate bag the certificate; the public key is the
// reliable link.
func leafForKey(certs []*x509.Certificate, key crypto.Signer) (*x509.Certificate, []*x509.Certificate, error) {
	var leaf *x509.Certificate
	var others []*x509.Certificate
	for _, c := range certs {
		pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !pub.Equal(key.Public()) {
			others = append(others, c)
			continue
		}
		if leaf != nil {
			return nil, nil, errorf(FieldPKCS12, "the PKCS#12 file holds two certificates for its private key (%s and %s); export it again with only the current one", subjectName(leaf), subjectName(c))
		}
		leaf = c
	}
	if leaf == nil {
		return nil, nil, errorf(FieldPKCS12, "no certificate in the PKCS#12 file belongs to its private key; export it again with the client certificate and its key, e.g. %s", exportP12)
	}
	return leaf, others, nil
}

// orderChain puts the issuers of leaf after it, in order, since PKCS#12
// does not prescribe an order. It stops at a self-signed root or when no
// issuer is left, and returns the certificates it did not use.
func orderChain(leaf *x509.Certificate, others []*x509.Certificate) (chain, unused []*x509.Certificate) {
	chain = []*x509.Certificate{leaf}
	unused = append(unused, others...)
	for len(unused) > 0 {
		cur := chain[len(chain)-1]
		if issuedBy(cur, cur) {
			break
		}
		next := -1
		for i, c := range unused {
			if issuedBy(cur, c) {
				next = i
				break
			}
		}
		if next < 0 {
			break
		}
		chain = append(chain, unused[next])
		unused = append(unused[:next], unused[next+1:]...)
	}
	return chain, unused
}
