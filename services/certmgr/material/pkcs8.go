package material

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"hash"
)

// Encrypted PKCS#8 (RFC 5958) is decrypted here rather than by a library
// because the standard library has no reader for it, and the one scheme that
// matters (PBES2 with PBKDF2 and AES-CBC, RFC 8018) is small enough to read
// carefully: every field is bounded before any work is done with it.

// maxKDFIterations bounds the PBKDF2 iteration count an upload may ask for.
// The count is chosen by whoever made the file, and each iteration costs an
// HMAC, so without a bound one upload could keep a CPU busy for hours. A
// million is far above OpenSSL's default of 2048 and common recommendations
// (600,000 for PBKDF2-HMAC-SHA256) and still takes well under a second.
const maxKDFIterations = 1_000_000

// maxSaltLen bounds the PBKDF2 salt; real salts are 8 to 64 bytes.
const maxSaltLen = 1024

var (
	oidPBES2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidScrypt    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 4, 11}
	oidPKCS5     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5}     // PBES1 schemes live under it
	oidPKCS12PBE = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1} // PKCS#12 schemes
	oidDESEDE3   = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}

	// prfs maps the PBKDF2 PRF identifiers to their hash. HMAC-SHA1 is the
	// default when the field is absent.
	prfs = []struct {
		oid  asn1.ObjectIdentifier
		name string
		hash func() hash.Hash
	}{
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}, "HMAC-SHA1", sha1.New},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}, "HMAC-SHA224", sha256.New224},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, "HMAC-SHA256", sha256.New},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}, "HMAC-SHA384", sha512.New384},
		{asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}, "HMAC-SHA512", sha512.New},
	}

	// aesCBCKeyLen maps the AES-CBC identifiers to their key length.
	aesCBCKeyLen = []struct {
		oid    asn1.ObjectIdentifier
		keyLen int
	}{
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}, 16},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}, 24},
		{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}, 32},
	}
)

type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

// pbkdf2Params keeps the salt raw because RFC 8018 allows a CHOICE there;
// only the OCTET STRING alternative is in use.
type pbkdf2Params struct {
	Salt           asn1.RawValue
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// kdfParams is a checked PBKDF2 parameter set.
type kdfParams struct {
	salt       []byte
	iterations int
	keyLength  int // 0 if absent
	prf        func() hash.Hash
}

// decryptPKCS8 decrypts an EncryptedPrivateKeyInfo and returns the
// PrivateKeyInfo DER inside it.
func decryptPKCS8(der []byte, passphrase string) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if err := unmarshalAll(der, &info); err != nil {
		return nil, errorf(FieldKey, "the ENCRYPTED PRIVATE KEY block is not valid encrypted PKCS#8 (the file is damaged); export the key again")
	}
	alg := info.Algorithm.Algorithm
	switch {
	case alg.Equal(oidPBES2):
	case hasPrefix(alg, oidPKCS5), hasPrefix(alg, oidPKCS12PBE):
		return nil, errorf(FieldKey, "the private key is encrypted with an obsolete scheme (%s, PKCS#5 v1 or PKCS#12 PBE); certbind reads PBES2 with AES, so re-encrypt it with %s", alg, reencrypt)
	default:
		return nil, errorf(FieldKey, "the private key is encrypted with scheme %s, which certbind does not support; re-encrypt it with %s", alg, reencrypt)
	}
	var params pbes2Params
	if err := unmarshalAll(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, errorf(FieldKey, "the encryption parameters of the private key are damaged (bad PBES2 parameters); export the key again")
	}
	kdf, err := parsePBKDF2(params.KeyDerivationFunc)
	if err != nil {
		return nil, err
	}
	keyLen, iv, err := parseAESCBC(params.EncryptionScheme)
	if err != nil {
		return nil, err
	}
	if kdf.keyLength != 0 && kdf.keyLength != keyLen {
		return nil, errorf(FieldKey, "the encryption parameters of the private key are inconsistent (PBKDF2 key length %d for a %d-byte AES key); export the key again", kdf.keyLength, keyLen)
	}
	if len(info.EncryptedData) == 0 || len(info.EncryptedData)%aes.BlockSize != 0 {
		return nil, errorf(FieldKey, "the encrypted private key is damaged (its length is not a whole number of AES blocks); export the key again")
	}

	key, err := pbkdf2.Key(kdf.prf, passphrase, kdf.salt, kdf.iterations, keyLen)
	if err != nil {
		return nil, errorf(FieldKey, "the private key's PBKDF2 parameters are not usable (%s); re-encrypt it with %s", clean(err.Error()), reencrypt)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errorf(FieldKey, "the private key's AES parameters are not usable; re-encrypt it with %s", reencrypt)
	}
	plain := make([]byte, len(info.EncryptedData))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.EncryptedData)
	plain, ok := unpad(plain, aes.BlockSize)
	if !ok || !wellFormedSequence(plain) {
		return nil, wrongPassphrase()
	}
	return plain, nil
}

// parsePBKDF2 checks a key derivation AlgorithmIdentifier and returns its
// parameters.
func parsePBKDF2(alg pkix.AlgorithmIdentifier) (kdfParams, error) {
	switch {
	case alg.Algorithm.Equal(oidPBKDF2):
	case alg.Algorithm.Equal(oidScrypt):
		return kdfParams{}, errorf(FieldKey, "the private key's passphrase is stretched with scrypt, which certbind does not support; re-encrypt it with %s", reencrypt)
	default:
		return kdfParams{}, errorf(FieldKey, "the private key's passphrase is stretched with %s, which certbind does not support; re-encrypt it with %s", alg.Algorithm, reencrypt)
	}
	var p pbkdf2Params
	if err := unmarshalAll(alg.Parameters.FullBytes, &p); err != nil {
		return kdfParams{}, errorf(FieldKey, "the private key's PBKDF2 parameters are damaged; export the key again")
	}
	if p.Salt.Class != asn1.ClassUniversal || p.Salt.Tag != asn1.TagOctetString || p.Salt.IsCompound {
		return kdfParams{}, errorf(FieldKey, "the private key's PBKDF2 salt is not a plain byte string, which certbind does not support; re-encrypt it with %s", reencrypt)
	}
	if len(p.Salt.Bytes) == 0 || len(p.Salt.Bytes) > maxSaltLen {
		return kdfParams{}, errorf(FieldKey, "the private key's PBKDF2 salt is %d bytes; certbind accepts 1 to %d, so re-encrypt it with %s", len(p.Salt.Bytes), maxSaltLen, reencrypt)
	}
	if p.IterationCount < 1 {
		return kdfParams{}, errorf(FieldKey, "the private key's PBKDF2 iteration count is %d, which is invalid; export the key again", p.IterationCount)
	}
	if p.IterationCount > maxKDFIterations {
		return kdfParams{}, errorf(FieldKey, "the private key's PBKDF2 iteration count is %d, more than the %d certbind accepts; re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 100000 -in key.pem -out key-pkcs8.pem`", p.IterationCount, maxKDFIterations)
	}
	if p.KeyLength < 0 {
		return kdfParams{}, errorf(FieldKey, "the private key's PBKDF2 key length is %d, which is invalid; export the key again", p.KeyLength)
	}
	prf, err := lookupPRF(p.PRF)
	if err != nil {
		return kdfParams{}, err
	}
	return kdfParams{salt: p.Salt.Bytes, iterations: p.IterationCount, keyLength: p.KeyLength, prf: prf}, nil
}

// lookupPRF returns the hash of a PBKDF2 PRF; absent means HMAC-SHA1.
func lookupPRF(alg pkix.AlgorithmIdentifier) (func() hash.Hash, error) {
	if len(alg.Algorithm) == 0 {
		return sha1.New, nil
	}
	// The HMAC identifiers take NULL or no parameters.
	if len(alg.Parameters.FullBytes) != 0 && !isNull(alg.Parameters) {
		return nil, errorf(FieldKey, "the private key's PBKDF2 PRF has unexpected parameters (the file is damaged); export the key again")
	}
	for _, p := range prfs {
		if alg.Algorithm.Equal(p.oid) {
			return p.hash, nil
		}
	}
	return nil, errorf(FieldKey, "the private key's PBKDF2 uses PRF %s, which certbind does not support (it supports HMAC with SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512); re-encrypt it with %s", alg.Algorithm, reencrypt)
}

// parseAESCBC checks an encryption scheme AlgorithmIdentifier and returns
// the AES key length and IV.
func parseAESCBC(alg pkix.AlgorithmIdentifier) (int, []byte, error) {
	keyLen := 0
	for _, a := range aesCBCKeyLen {
		if alg.Algorithm.Equal(a.oid) {
			keyLen = a.keyLen
		}
	}
	if keyLen == 0 {
		name := alg.Algorithm.String()
		if alg.Algorithm.Equal(oidDESEDE3) {
			name = "3DES (des-ede3-cbc)"
		}
		return 0, nil, errorf(FieldKey, "the private key is encrypted with cipher %s, which certbind does not support (it supports AES-128, AES-192 and AES-256 in CBC mode); re-encrypt it with %s", name, reencrypt)
	}
	var iv []byte
	if err := unmarshalAll(alg.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return 0, nil, errorf(FieldKey, "the private key's AES-CBC parameters are damaged (the IV must be %d bytes); export the key again", aes.BlockSize)
	}
	return keyLen, iv, nil
}

// unpad removes PKCS#7 padding. It compares every padding byte rather than
// stopping at the first mismatch, out of habit more than need: the uploader
// supplies both the passphrase and the ciphertext, so there is no padding
// oracle to protect.
func unpad(b []byte, blockSize int) ([]byte, bool) {
	if len(b) == 0 || len(b)%blockSize != 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize {
		return nil, false
	}
	good := 1
	for _, c := range b[len(b)-n:] {
		good &= subtle.ConstantTimeByteEq(c, byte(n))
	}
	return b[:len(b)-n], good == 1
}

// unmarshalAll is asn1.Unmarshal that also rejects trailing bytes, which
// DER does not allow and which could hide data from a check.
func unmarshalAll(der []byte, v any) error {
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%d bytes of trailing data", len(rest))
	}
	return nil
}

func isNull(v asn1.RawValue) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == asn1.TagNull && len(v.Bytes) == 0
}

func hasPrefix(oid, prefix asn1.ObjectIdentifier) bool {
	return len(oid) > len(prefix) && oid[:len(prefix)].Equal(prefix)
}
