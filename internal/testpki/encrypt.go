package testpki

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"hash"
	"testing"

	// The PRF hashes register themselves with crypto.Hash.New.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// PBES2 chooses how EncryptedKeyPEMWith protects a key. The zero value is
// what `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes: PBKDF2 with
// HMAC-SHA256 and 2048 iterations, then AES-256-CBC.
type PBES2 struct {
	// PRF is the hash of the PBKDF2 HMAC: crypto.SHA1, SHA224, SHA256 (zero),
	// SHA384 or SHA512.
	PRF crypto.Hash
	// AESBits is 128, 192 or 256 (zero).
	AESBits int
	// Iterations defaults to 2048.
	Iterations int
	// WriteKeyLength adds the optional keyLength field to the PBKDF2
	// parameters, as some tools other than OpenSSL do.
	WriteKeyLength bool
}

// ASN.1 object identifiers from RFC 8018 (PKCS #5) and NIST.
var (
	oidPBES2  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMAC   = map[crypto.Hash]asn1.ObjectIdentifier{
		crypto.SHA1:   {1, 2, 840, 113549, 2, 7},
		crypto.SHA224: {1, 2, 840, 113549, 2, 8},
		crypto.SHA256: {1, 2, 840, 113549, 2, 9},
		crypto.SHA384: {1, 2, 840, 113549, 2, 10},
		crypto.SHA512: {1, 2, 840, 113549, 2, 11},
	}
	oidAESCBC = map[int]asn1.ObjectIdentifier{
		128: {2, 16, 840, 1, 101, 3, 4, 1, 2},
		192: {2, 16, 840, 1, 101, 3, 4, 1, 22},
		256: {2, 16, 840, 1, 101, 3, 4, 1, 42},
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

// pbkdf2Params leaves PRF out when it is HMAC-SHA1, because DER forbids
// encoding a DEFAULT value; encoding/asn1 omits a zero optional field.
type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// EncryptedKeyPEM returns the key as encrypted PKCS#8 ("ENCRYPTED PRIVATE
// KEY") under passphrase, in the form OpenSSL writes by default.
func (c *Cert) EncryptedKeyPEM(t testing.TB, passphrase string) []byte {
	t.Helper()
	return c.EncryptedKeyPEMWith(t, passphrase, PBES2{})
}

// EncryptedKeyPEMWith is EncryptedKeyPEM with a chosen PRF, AES key size and
// iteration count.
func (c *Cert) EncryptedKeyPEMWith(t testing.TB, passphrase string, p PBES2) []byte {
	t.Helper()
	if p.PRF == 0 {
		p.PRF = crypto.SHA256
	}
	if p.AESBits == 0 {
		p.AESBits = 256
	}
	if p.Iterations == 0 {
		p.Iterations = 2048
	}
	prfOID, ok := oidHMAC[p.PRF]
	if !ok {
		t.Fatalf("testpki: unsupported PBKDF2 PRF %v", p.PRF)
	}
	encOID, ok := oidAESCBC[p.AESBits]
	if !ok {
		t.Fatalf("testpki: unsupported AES key size %d", p.AESBits)
	}

	salt := randomBytes(t, 16)
	iv := randomBytes(t, aes.BlockSize)
	key, err := pbkdf2.Key(func() hash.Hash { return p.PRF.New() }, passphrase, salt, p.Iterations, p.AESBits/8)
	if err != nil {
		t.Fatalf("testpki: PBKDF2: %v", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatalf("testpki: AES: %v", err)
	}
	plain := pad(c.pkcs8DER(t), aes.BlockSize)
	ciphertext := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ciphertext, plain)

	kdf := pbkdf2Params{Salt: salt, IterationCount: p.Iterations}
	if p.WriteKeyLength {
		kdf.KeyLength = p.AESBits / 8
	}
	if p.PRF != crypto.SHA1 {
		kdf.PRF = pkix.AlgorithmIdentifier{Algorithm: prfOID, Parameters: asn1.NullRawValue}
	}
	params := pbes2Params{
		KeyDerivationFunc: pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: rawValue(t, kdf)},
		EncryptionScheme:  pkix.AlgorithmIdentifier{Algorithm: encOID, Parameters: rawValue(t, iv)},
	}
	der := marshal(t, encryptedPrivateKeyInfo{
		Algorithm:     pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: rawValue(t, params)},
		EncryptedData: ciphertext,
	})
	return pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})
}

// LegacyEncryptedKeyPEM returns the key in OpenSSL's traditional encrypted
// form, with "Proc-Type: 4,ENCRYPTED" and "DEK-Info" headers and AES-256-CBC:
// PKCS#1 for RSA, SEC 1 for ECDSA and, as OpenSSL falls back to, PKCS#8 for
// Ed25519.
func (c *Cert) LegacyEncryptedKeyPEM(t testing.TB, passphrase string) []byte {
	t.Helper()
	var typ string
	var der []byte
	switch c.Key.(type) {
	case *rsa.PrivateKey:
		typ, der = "RSA PRIVATE KEY", c.pkcs1DER(t)
	case *ecdsa.PrivateKey:
		typ, der = "EC PRIVATE KEY", c.sec1DER(t)
	default:
		typ, der = "PRIVATE KEY", c.pkcs8DER(t)
	}
	// EncryptPEMBlock is deprecated because the format is weak, but users
	// still upload keys in it, so tests need to make them.
	//lint:ignore SA1019 tests must produce the legacy format users upload
	block, err := x509.EncryptPEMBlock(rand.Reader, typ, der, []byte(passphrase), x509.PEMCipherAES256)
	if err != nil {
		t.Fatalf("testpki: legacy PEM encryption: %v", err)
	}
	return pem.EncodeToMemory(block)
}

// pad applies PKCS#7 padding, which CBC mode in PBES2 requires.
func pad(b []byte, size int) []byte {
	n := size - len(b)%size
	out := make([]byte, len(b), len(b)+n)
	copy(out, b)
	for range n {
		out = append(out, byte(n))
	}
	return out
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testpki: random: %v", err)
	}
	return b
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	der, err := asn1.Marshal(v)
	if err != nil {
		t.Fatalf("testpki: ASN.1 marshal %T: %v", v, err)
	}
	return der
}

func rawValue(t testing.TB, v any) asn1.RawValue {
	t.Helper()
	return asn1.RawValue{FullBytes: marshal(t, v)}
}
