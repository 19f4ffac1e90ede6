package material

import (
	"crypto/x509/pkix"
	"encoding/asn1"
)

// A PKCS#12 file names its own key derivation iteration counts (for the MAC,
// for each encrypted part and for the key), and go-pkcs12 runs whatever it is
// told: a crafted file with two billion iterations would keep a CPU busy for
// minutes. It also parses the private key, whose RSA validation costs grow
// steeply with the key size. checkPKCS12Work walks the file's structure first
// and bounds both, mirroring the structures go-pkcs12 reads so that anything
// it would decode has passed through here.
//
// What it cannot see is the inside of an encrypted part before the password
// is checked. Exporters put only certificates there (the key goes in a
// separately encrypted bag), but a crafted file could hide a key bag with a
// large iteration count or an oversized RSA key in it; the upload size limit
// is the only bound on that.

// maxKeyDER bounds a private key in a PKCS#12 file: an 8192-bit RSA key in
// PKCS#8 is under 5 KiB.
const maxKeyDER = 8 << 10

var (
	oidDataContent      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedContent = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidShroudedKeyBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBMAC1           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
)

type p12PFX struct {
	Version  int
	AuthSafe p12ContentInfo
	MacData  p12MacData `asn1:"optional"`
}

type p12ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type p12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type p12EncryptedData struct {
	Version int
	Info    struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Content     []byte `asn1:"tag:0,optional"`
	}
}

type p12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue `asn1:"tag:0,explicit"`
	Attributes asn1.RawValue `asn1:"optional"`
}

// pbeParams are the parameters of PKCS#5 v1 and PKCS#12 password-based
// encryption.
type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbmac1Params struct {
	KDF pkix.AlgorithmIdentifier
	MAC pkix.AlgorithmIdentifier
}

func checkPKCS12Work(data []byte) error {
	damaged := func() error {
		return errorf(FieldPKCS12, "the PKCS#12 file is damaged or not a PKCS#12 file at all; export it again, e.g. with %s", exportP12)
	}
	var pfx p12PFX
	if unmarshalAll(data, &pfx) != nil {
		return damaged()
	}
	if len(pfx.MacData.Mac.Algorithm.Algorithm) != 0 {
		iter := pfx.MacData.Iterations
		if pfx.MacData.Mac.Algorithm.Algorithm.Equal(oidPBMAC1) {
			var p pbmac1Params
			if unmarshalAll(pfx.MacData.Mac.Algorithm.Parameters.FullBytes, &p) != nil {
				return damaged()
			}
			iter = pbkdf2Iterations(p.KDF)
		}
		if err := checkIterations(iter); err != nil {
			return err
		}
	}
	if !pfx.AuthSafe.ContentType.Equal(oidDataContent) {
		// go-pkcs12 rejects other types (public-key integrity) itself.
		return nil
	}
	var authSafe asn1.RawValue
	if unmarshalAll(pfx.AuthSafe.Content.Bytes, &authSafe) != nil {
		return damaged()
	}
	var contents []p12ContentInfo
	if unmarshalAll(authSafe.Bytes, &contents) != nil {
		return damaged()
	}
	for _, ci := range contents {
		switch {
		case ci.ContentType.Equal(oidDataContent):
			var safe []byte
			if unmarshalAll(ci.Content.Bytes, &safe) != nil {
				return damaged()
			}
			if err := checkSafeContents(safe); err != nil {
				return err
			}
		case ci.ContentType.Equal(oidEncryptedContent):
			var ed p12EncryptedData
			if unmarshalAll(ci.Content.Bytes, &ed) != nil {
				return damaged()
			}
			if err := checkIterations(pbeIterations(ed.Info.Algorithm)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSafeContents bounds the key bags of an unencrypted SafeContents.
func checkSafeContents(der []byte) error {
	var bags []p12SafeBag
	if unmarshalAll(der, &bags) != nil {
		return errorf(FieldPKCS12, "the PKCS#12 file is damaged (bad SafeContents); export it again, e.g. with %s", exportP12)
	}
	for _, bag := range bags {
		switch {
		case bag.ID.Equal(oidShroudedKeyBag):
			var info encryptedPrivateKeyInfo
			if unmarshalAll(bag.Value.Bytes, &info) != nil {
				return errorf(FieldPKCS12, "the PKCS#12 file's private key bag is damaged; export it again, e.g. with %s", exportP12)
			}
			if err := checkIterations(pbeIterations(info.Algorithm)); err != nil {
				return err
			}
			if len(info.EncryptedData) > maxKeyDER {
				return keyBagTooLarge(len(info.EncryptedData))
			}
		case bag.ID.Equal(oidKeyBag):
			if len(bag.Value.Bytes) > maxKeyDER {
				return keyBagTooLarge(len(bag.Value.Bytes))
			}
		}
	}
	return nil
}

func keyBagTooLarge(n int) error {
	return errorf(FieldPKCS12, "the private key in the PKCS#12 file is %d bytes, more than any supported key needs (%d); certbind accepts %s", n, maxKeyDER, supportedKeys)
}

// pbeIterations returns the iteration count of a password-based encryption
// AlgorithmIdentifier, or 0 if it is not one certbind knows; go-pkcs12 then
// rejects the algorithm without deriving any key.
func pbeIterations(alg pkix.AlgorithmIdentifier) int {
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		var p pbes2Params
		if unmarshalAll(alg.Parameters.FullBytes, &p) != nil {
			return 0
		}
		return pbkdf2Iterations(p.KeyDerivationFunc)
	case hasPrefix(alg.Algorithm, oidPKCS12PBE), hasPrefix(alg.Algorithm, oidPKCS5):
		var p pbeParams
		if unmarshalAll(alg.Parameters.FullBytes, &p) != nil {
			return 0
		}
		return p.Iterations
	}
	return 0
}

func pbkdf2Iterations(alg pkix.AlgorithmIdentifier) int {
	var p pbkdf2Params
	if !alg.Algorithm.Equal(oidPBKDF2) || unmarshalAll(alg.Parameters.FullBytes, &p) != nil {
		return 0
	}
	return p.IterationCount
}

func checkIterations(n int) error {
	if n > maxKDFIterations {
		return errorf(FieldPKCS12, "the PKCS#12 file asks for %d key derivation iterations, more than the %d certbind accepts; export it again with fewer, e.g. with %s", n, maxKDFIterations, exportP12)
	}
	return nil
}
