package material

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
)

// parsePrivateKey parses der as the PEM type typ says. An RSA modulus is
// measured before the key is parsed, since parsing validates the key with
// arithmetic whose cost grows steeply with its size.
func parsePrivateKey(typ string, der []byte, line int) (any, error) {
	switch typ {
	case "RSA PRIVATE KEY":
		if err := checkRSASize(der); err != nil {
			return nil, err
		}
		key, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return nil, errorf(FieldKey, "the RSA PRIVATE KEY block at line %d is not a valid PKCS#1 RSA key; export the key again, for example with `openssl pkey -in key.pem -out key-pkcs8.pem`", line)
		}
		return key, nil
	case "EC PRIVATE KEY":
		key, err := x509.ParseECPrivateKey(der)
		if err != nil {
			if strings.Contains(err.Error(), "unknown elliptic curve") {
				return nil, errorf(FieldKey, "the EC private key is on an elliptic curve certbind does not support; it accepts %s", supportedKeys)
			}
			return nil, errorf(FieldKey, "the EC PRIVATE KEY block at line %d is not a valid SEC 1 EC key; export the key again, for example with `openssl pkey -in key.pem -out key-pkcs8.pem`", line)
		}
		return key, nil
	}
	return parsePKCS8(der, line)
}

// pkcs8 is the outer structure of a PKCS#8 PrivateKeyInfo, enough to learn
// the algorithm before parsing the key.
type pkcs8 struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
}

var (
	oidRSA    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidRSAPSS = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidDSA    = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidECKey  = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidX448   = asn1.ObjectIdentifier{1, 3, 101, 111}
	oidEd448  = asn1.ObjectIdentifier{1, 3, 101, 113}
)

func parsePKCS8(der []byte, line int) (any, error) {
	var outer pkcs8
	if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) != 0 {
		return nil, errorf(FieldKey, "the private key at line %d is not valid PKCS#8; export it again, for example with `openssl pkey -in key.pem -out key-pkcs8.pem`", line)
	}
	if outer.Algorithm.Algorithm.Equal(oidRSA) {
		if err := checkRSASize(outer.PrivateKey); err != nil {
			return nil, err
		}
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err == nil {
		return key, nil
	}
	var what string
	switch alg := outer.Algorithm.Algorithm; {
	case alg.Equal(oidRSAPSS):
		what = "an RSA-PSS key"
	case alg.Equal(oidDSA):
		what = "a DSA key"
	case alg.Equal(oidECKey):
		what = "an EC key on an unsupported curve"
	case alg.Equal(oidX448):
		what = "an X448 key"
	case alg.Equal(oidEd448):
		what = "an Ed448 key"
	case alg.Equal(oidRSA):
		return nil, errorf(FieldKey, "the RSA private key at line %d is damaged (its numbers do not form a valid key); export it again", line)
	default:
		return nil, errorf(FieldKey, "the private key at line %d has algorithm %s, which certbind does not support (or the key is damaged); it accepts %s", line, outer.Algorithm.Algorithm, supportedKeys)
	}
	return nil, errorf(FieldKey, "the private key is %s, which certbind does not support; it accepts %s", what, supportedKeys)
}

func checkRSASize(pkcs1 []byte) error {
	if bits, ok := rsaModulusBits(pkcs1); ok && bits > maxRSABits {
		return errorf(FieldKey, "the private key is RSA %d; certbind accepts %s", bits, supportedKeys)
	}
	return nil
}
