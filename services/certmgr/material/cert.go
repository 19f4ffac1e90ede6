package material

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// parseChainPEM reads a client certificate file into certificates in file
// order. Whether they form a chain is checkClientChain's business.
func parseChainPEM(data []byte) ([]*x509.Certificate, error) {
	blocks, err := certBlocks(data, certFile, "pass the private key separately with --key and keep only certificates in this file")
	if err != nil {
		return nil, err
	}
	if len(blocks) > MaxChainLength {
		return nil, errorf(FieldCertificate, "the certificate file holds %d certificates, more than the %d allowed; keep the client certificate and its intermediates, and leave out the root and unrelated certificates", len(blocks), MaxChainLength)
	}
	return parseCertificates(blocks, certFile)
}

// certBlocks returns the CERTIFICATE blocks of f and rejects everything else:
// a file that is empty, binary or not PEM, text outside blocks, private keys
// (keyHint says what to do with one) and blocks of other types.
func certBlocks(data []byte, f file, keyHint string) ([]block, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errorf(f.field, "the %s is empty; it must hold PEM certificates, each starting with -----BEGIN CERTIFICATE-----", f.name)
	}
	if !hasPEM(data) {
		return nil, notPEMCertificate(data, f)
	}
	blocks, err := splitPEM(data, f)
	if err != nil {
		return nil, err
	}
	certs := blocks[:0]
	for _, b := range blocks {
		switch {
		case b.Type == "CERTIFICATE":
			certs = append(certs, b)
		case isPrivateKeyType(b.Type):
			return nil, errorf(f.field, "the %s holds a private key (PEM block at line %d); %s", f.name, b.line, keyHint)
		default:
			return nil, otherBlock(b, f)
		}
	}
	return certs, nil
}

// notPEMCertificate explains a certificate file without a single BEGIN line.
// DER is the usual mistake, so it gets the command that converts it.
func notPEMCertificate(data []byte, f file) error {
	if !looksBinary(data) {
		return errorf(f.field, "the %s holds no PEM block; expected certificates in PEM, each starting with -----BEGIN CERTIFICATE-----", f.name)
	}
	switch sniffDER(data) {
	case derCertificate:
		return errorf(f.field, "the %s is a DER (binary) certificate, but PEM is required; convert it with `openssl x509 -inform der -in cert.der -out cert.pem` and upload cert.pem", f.name)
	case derPrivateKey, derEncryptedKey:
		return errorf(f.field, "the %s is a DER (binary) private key, not a certificate; upload the certificate in PEM here and the key with --key", f.name)
	case derPKCS12:
		return errorf(f.field, "the %s is a PKCS#12 (.p12/.pfx) file, but PEM is required; extract the certificates with `openssl pkcs12 -in file.p12 -nokeys -out certs.pem`, or upload a client PKCS#12 file as PKCS#12", f.name)
	}
	return errorf(f.field, "the %s is binary, but PEM text is required; a DER certificate converts with `openssl x509 -inform der -in cert.der -out cert.pem`, and a PKCS#12 (.p12/.pfx) file must be uploaded as PKCS#12 instead", f.name)
}

// parseCertificates parses the DER of each block.
func parseCertificates(blocks []block, f file) ([]*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, b := range blocks {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, errorf(f.field, "certificate %d in the %s (line %d) is not a valid X.509 certificate (%s); export it again from where it came from", i+1, f.name, b.line, clean(strings.TrimPrefix(err.Error(), "x509: ")))
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// encodeChain returns certs as PEM with nothing but CERTIFICATE blocks.
func encodeChain(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// describe names certificate i (0-based) of a file for messages, e.g.
// `certificate 2 (CN=Example Intermediate)`.
func describe(i int, c *x509.Certificate) string {
	return fmt.Sprintf("certificate %d (%s)", i+1, subjectName(c))
}

// subjectName is the common name of c, or its whole subject if it has none.
func subjectName(c *x509.Certificate) string {
	if cn := c.Subject.CommonName; cn != "" {
		return "CN=" + clean(cn)
	}
	if s := c.Subject.String(); s != "" {
		return clean(s)
	}
	return "empty subject"
}
