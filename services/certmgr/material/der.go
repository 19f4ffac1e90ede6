package material

import (
	"crypto/x509"
	"encoding/asn1"
)

// derKind tells what a binary upload probably is, so that the error for it
// can give the command that converts it. It parses no more than the outer
// structure, except for certificates whose parsing is cheap: a full key parse
// of an unbounded RSA key would be an easy way to burn CPU.
type derKind int

const (
	derUnknown derKind = iota
	derCertificate
	derPrivateKey // PKCS#1, SEC 1 or PKCS#8
	derEncryptedKey
	derPKCS12
)

func sniffDER(data []byte) derKind {
	if _, err := x509.ParseCertificate(data); err == nil {
		return derCertificate
	}
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(data, &seq); err != nil || len(rest) != 0 || seq.Tag != asn1.TagSequence {
		return derUnknown
	}
	var first asn1.RawValue
	rest, err := asn1.Unmarshal(seq.Bytes, &first)
	if err != nil {
		return derUnknown
	}
	switch first.Tag {
	case asn1.TagInteger:
		// Private keys start with version 0 or 1; a PKCS#12 PFX with 3.
		var version int
		if _, err := asn1.Unmarshal(first.FullBytes, &version); err != nil {
			return derUnknown
		}
		switch version {
		case 0, 1:
			return derPrivateKey
		case 3:
			return derPKCS12
		}
	case asn1.TagSequence:
		var second asn1.RawValue
		if _, err := asn1.Unmarshal(rest, &second); err == nil && second.Tag == asn1.TagOctetString {
			return derEncryptedKey
		}
	}
	return derUnknown
}

// wellFormedSequence reports whether der is exactly one DER SEQUENCE. After
// decryption with a wrong passphrase, the padding check passes by chance
// about once in 256 tries; this catches those.
func wellFormedSequence(der []byte) bool {
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	return err == nil && len(rest) == 0 && seq.Class == asn1.ClassUniversal && seq.Tag == asn1.TagSequence && seq.IsCompound
}

// rsaModulusBits returns the size of the modulus of a PKCS#1 RSAPrivateKey
// without parsing the key, which would do expensive arithmetic on it.
func rsaModulusBits(pkcs1 []byte) (int, bool) {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(pkcs1, &seq); err != nil || seq.Tag != asn1.TagSequence {
		return 0, false
	}
	var version, modulus asn1.RawValue
	rest, err := asn1.Unmarshal(seq.Bytes, &version)
	if err != nil || version.Tag != asn1.TagInteger {
		return 0, false
	}
	if _, err := asn1.Unmarshal(rest, &modulus); err != nil || modulus.Tag != asn1.TagInteger {
		return 0, false
	}
	n := modulus.Bytes
	for len(n) > 0 && n[0] == 0 {
		n = n[1:]
	}
	if len(n) == 0 {
		return 0, true
	}
	bits := (len(n) - 1) * 8
	for b := n[0]; b != 0; b >>= 1 {
		bits++
	}
	return bits, true
}
