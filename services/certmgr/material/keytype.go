package material

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
)

// supportedKeys lists the keys certbind accepts, for messages. RSA below 2048
// bits is within reach of attackers; above 8192 bits it only costs CPU, and
// Go's TLS stack refuses it anyway. P-521 is left out because BoringSSL-based
// backends do not support it and it buys nothing over P-384 here.
const supportedKeys = "RSA of 2048 to 8192 bits, ECDSA P-256 or P-384, or Ed25519"

// maxRSABits is the largest RSA modulus accepted anywhere in an upload. It is
// checked before any signature is verified or key parsed, because the cost of
// both grows steeply with the modulus.
const maxRSABits = 8192

// keyAlgorithm names a public key the way Info.KeyAlgorithm reports it and
// says whether certbind accepts it for a client certificate.
func keyAlgorithm(pub crypto.PublicKey) (name string, supported bool) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		return fmt.Sprintf("RSA %d", bits), bits >= 2048 && bits <= maxRSABits
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			return "ECDSA with an unknown curve", false
		}
		name := k.Curve.Params().Name
		return "ECDSA " + name, name == "P-256" || name == "P-384"
	case ed25519.PublicKey:
		return "Ed25519", true
	case *ecdh.PublicKey:
		// X25519 and friends can be in PKCS#8, but they cannot sign.
		return fmt.Sprintf("ECDH %v (key agreement only)", k.Curve()), false
	}
	return fmt.Sprintf("an unsupported algorithm (%T)", pub), false
}

// privateKeyAlgorithm is keyAlgorithm for the public half of a parsed
// private key.
func privateKeyAlgorithm(key any) (name string, supported bool) {
	k, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return fmt.Sprintf("an unsupported algorithm (%T)", key), false
	}
	return keyAlgorithm(k.Public())
}

// supportedSigner applies the key type policy to a parsed private key.
func supportedSigner(key any, field string) (crypto.Signer, error) {
	name, ok := privateKeyAlgorithm(key)
	signer, isSigner := key.(crypto.Signer)
	if !ok || !isSigner {
		return nil, errorf(field, "the private key is %s, which certbind does not accept; it accepts %s", name, supportedKeys)
	}
	return signer, nil
}

// matchKey checks that key is the private half of the leaf's public key.
func matchKey(leaf *x509.Certificate, key crypto.Signer, field string) error {
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if ok && pub.Equal(key.Public()) {
		return nil
	}
	keyName, _ := keyAlgorithm(key.Public())
	certName, _ := keyAlgorithm(leaf.PublicKey)
	detail := fmt.Sprintf("the key is %s but the certificate's key is %s", keyName, certName)
	if keyName == certName {
		detail = fmt.Sprintf("both are %s, but they are different keys", keyName)
	}
	return errorf(field, "the private key does not belong to the client certificate (%s): %s; pass the key that was generated together with this certificate", subjectName(leaf), detail)
}
