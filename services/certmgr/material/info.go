package material

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"slices"
)

// newInfo describes c. The serial number is hex, the way certificate tools
// show it, rather than the decimal big.Int.String gives.
func newInfo(c *x509.Certificate) Info {
	sum := sha256.Sum256(c.Raw)
	alg, _ := keyAlgorithm(c.PublicKey)
	return Info{
		Subject:           c.Subject.String(),
		Issuer:            c.Issuer.String(),
		SerialNumber:      c.SerialNumber.Text(16),
		FingerprintSHA256: hex.EncodeToString(sum[:]),
		KeyAlgorithm:      alg,
		NotBefore:         c.NotBefore,
		NotAfter:          c.NotAfter,
		DNSNames:          slices.Clone(c.DNSNames),
	}
}

// newClient checks that key belongs to chain[0] and assembles the result.
// pkcs8 is the key's PKCS#8 DER as uploaded, which is kept as it is (it
// parsed to key, and parses the same again); when it is nil the key is
// marshalled to PKCS#8.
func newClient(chain []*x509.Certificate, key crypto.Signer, pkcs8 []byte, field string) (*Client, error) {
	if err := matchKey(chain[0], key, field); err != nil {
		return nil, err
	}
	der := pkcs8
	if der == nil {
		var err error
		if der, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
			// Only keys that passed the type check get here, and all of
			// those marshal; this guards against a future type slipping
			// through.
			return nil, errorf(field, "the private key cannot be stored (%s); re-export it as PKCS#8 with `openssl pkey -in key.pem -out key-pkcs8.pem`", clean(err.Error()))
		}
	}
	return &Client{Chain: chain, ChainPEM: encodeChain(chain), PrivateKeyDER: der, Info: newInfo(chain[0])}, nil
}
