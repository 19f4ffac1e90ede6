package material

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/certbind/certbind/internal/testpki"
)

func TestUnpad(t *testing.T) {
	block := func(tail ...byte) []byte { return append(bytes.Repeat([]byte{0xaa}, 16-len(tail)), tail...) }
	tests := []struct {
		name string
		in   []byte
		want int // length after unpadding, -1 for rejection
	}{
		{"one byte", block(1), 15},
		{"full block", append(block(), bytes.Repeat([]byte{16}, 16)...), 16},
		{"three bytes", block(3, 3, 3), 13},
		{"zero", block(0), -1},
		{"too large", block(17), -1},
		{"inconsistent", block(2, 3, 3), -1},
		{"empty", nil, -1},
		{"not a block multiple", []byte{1}, -1},
	}
	for _, tt := range tests {
		got, ok := unpad(tt.in, 16)
		if tt.want < 0 && ok || tt.want >= 0 && (!ok || len(got) != tt.want) {
			t.Errorf("%s: unpad = %d bytes, %v; want %d", tt.name, len(got), ok, tt.want)
		}
	}
}

// TestDecryptPKCS8Malformed feeds parameter sets that no encoder should
// write; each must be refused before any key is derived.
func TestDecryptPKCS8Malformed(t *testing.T) {
	aes := aes256Alg(t)
	kdf := func(v any) pkix.AlgorithmIdentifier {
		return pkix.AlgorithmIdentifier{Algorithm: oidPBKDF2, Parameters: rawParams(t, v)}
	}
	type salted struct {
		Salt       []byte
		Iterations int
		KeyLength  int `asn1:"optional"`
		PRF        pkix.AlgorithmIdentifier
	}
	sha256PRF := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}, Parameters: asn1.NullRawValue}
	tests := []struct {
		name     string
		alg      pkix.AlgorithmIdentifier
		contains string
	}{
		{"no PBES2 parameters", pkix.AlgorithmIdentifier{Algorithm: oidPBES2}, "bad PBES2 parameters"},
		{"unknown scheme", pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 3}}, "scheme 1.2.3"},
		{"unknown KDF", pbes2With(t, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 3, 4}}, aes), "stretched with 1.2.3.4"},
		{"zero iterations", pbes2With(t, pbkdf2Alg(t, 0), aes), "iteration count is 0"},
		{"negative iterations", pbes2With(t, pbkdf2Alg(t, -5), aes), "iteration count is -5"},
		{"empty salt", pbes2With(t, kdf(salted{Iterations: 1, PRF: sha256PRF}), aes), "salt is 0 bytes"},
		{"huge salt", pbes2With(t, kdf(salted{Salt: make([]byte, 2000), Iterations: 1, PRF: sha256PRF}), aes), "salt is 2000 bytes"},
		{"salt from another source", pbes2With(t, kdf(struct {
			Salt       pkix.AlgorithmIdentifier
			Iterations int
		}{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2}}, 1}), aes), "not a plain byte string"},
		{"key length mismatch", pbes2With(t, kdf(salted{Salt: make([]byte, 8), Iterations: 1, KeyLength: 16, PRF: sha256PRF}), aes), "key length 16 for a 32-byte AES key"},
		{"unknown PRF", pbes2With(t, kdf(salted{Salt: make([]byte, 8), Iterations: 1, PRF: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}}}), aes), "PRF 1.2.840.113549.2.5"},
		{"PRF with parameters", pbes2With(t, kdf(salted{Salt: make([]byte, 8), Iterations: 1, PRF: pkix.AlgorithmIdentifier{Algorithm: sha256PRF.Algorithm, Parameters: rawParams(t, 7)}}), aes), "unexpected parameters"},
		{"short IV", pbes2With(t, pbkdf2Alg(t, 1), pkix.AlgorithmIdentifier{Algorithm: aes.Algorithm, Parameters: rawParams(t, make([]byte, 8))}), "IV must be 16 bytes"},
		{"no IV", pbes2With(t, pbkdf2Alg(t, 1), pkix.AlgorithmIdentifier{Algorithm: aes.Algorithm}), "IV must be 16 bytes"},
		{"AES-GCM", pbes2With(t, pbkdf2Alg(t, 1), pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}}), "cipher 2.16.840.1.101.3.4.1.46"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block := encryptedPEM(t, tt.alg)
			_, err := decryptPKCS8(pemDER(t, block), "x")
			wantError(t, err, FieldKey, []string{tt.contains}, block)
		})
	}

	t.Run("trailing data", func(t *testing.T) {
		der := append(pemDER(t, testpki.NewSelfSigned(t, testpki.Options{}).EncryptedKeyPEM(t, "x")), 0)
		_, err := decryptPKCS8(der, "x")
		wantError(t, err, FieldKey, []string{"not valid encrypted PKCS#8"})
	})
	t.Run("ciphertext not whole blocks", func(t *testing.T) {
		der, _ := asn1.Marshal(encryptedPrivateKeyInfo{Algorithm: pbes2With(t, pbkdf2Alg(t, 1), aes), EncryptedData: make([]byte, 20)})
		_, err := decryptPKCS8(der, "x")
		wantError(t, err, FieldKey, []string{"not a whole number of AES blocks"})
	})
}

// TestOpenSSLInterop checks the decryption against keys that OpenSSL
// encrypted, so that the PBES2 reader is not only tested against the
// encoder in testpki, written by the same hands.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	p := newPKI(t)
	rsaLeaf := p.inter.Issue(t, testpki.Options{CommonName: "rsa client", KeyType: testpki.RSA2048})
	edLeaf := p.inter.Issue(t, testpki.Options{CommonName: "ed client", KeyType: testpki.Ed25519})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	run := func(t *testing.T, args ...string) []byte {
		t.Helper()
		out, err := exec.Command(openssl, args...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("openssl %v: %v\n%s", args, err, stderr)
		}
		return out
	}
	const pass = "openssl pass"
	now := time.Now()

	good := []struct {
		name string
		leaf *testpki.Cert
		args []string // between the input and the output options
	}{
		{"pkcs8 aes-256-cbc default PRF", p.leaf, []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc"}},
		{"pkcs8 aes-128-cbc SHA1", p.leaf, []string{"pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"}},
		{"pkcs8 aes-192-cbc SHA512 10000 iterations", rsaLeaf, []string{"pkcs8", "-topk8", "-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA512", "-iter", "10000"}},
		{"pkcs8 SHA384 Ed25519", edLeaf, []string{"pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA384"}},
		{"pkcs8 SHA224", p.leaf, []string{"pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA224"}},
		{"legacy EC", p.leaf, []string{"ec", "-aes256"}},
		{"legacy RSA", rsaLeaf, []string{"rsa", "-traditional", "-aes128"}},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			in := write("key.pem", tt.leaf.KeyPEM)
			args := append(append([]string{}, tt.args...), "-in", in, "-passout", "pass:"+pass)
			key := run(t, args...)
			wantType := "-----BEGIN ENCRYPTED PRIVATE KEY-----"
			if tt.args[0] != "pkcs8" {
				wantType = "Proc-Type: 4,ENCRYPTED"
			}
			if !bytes.Contains(key, []byte(wantType)) {
				t.Fatalf("openssl %v did not write %q:\n%s", tt.args, wantType, key)
			}
			c, err := ParseClient(Input{CertificatePEM: testpki.ChainPEM(tt.leaf, p.inter), KeyPEM: key, KeyPassphrase: pass}, now)
			if err != nil {
				t.Fatalf("rejected what openssl %v wrote: %v", tt.args, err)
			}
			checkKey(t, c, tt.leaf.Key)
			if _, err := ParseClient(Input{CertificatePEM: testpki.ChainPEM(tt.leaf, p.inter), KeyPEM: key, KeyPassphrase: pass + "!"}, now); err == nil {
				t.Fatal("accepted a wrong passphrase")
			}
		})
	}

	bad := []struct {
		name     string
		args     []string
		contains string
	}{
		{"pkcs8 3DES", []string{"pkcs8", "-topk8", "-v2", "des3"}, "3DES"},
		{"pkcs8 scrypt", []string{"pkcs8", "-topk8", "-scrypt"}, "scrypt"},
		{"pkcs8 PBES1", []string{"pkcs8", "-topk8", "-v1", "PBE-SHA1-3DES"}, "obsolete scheme"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			in := write("key.pem", p.leaf.KeyPEM)
			args := append(append([]string{}, tt.args...), "-in", in, "-passout", "pass:"+pass)
			key := run(t, args...)
			_, err := ParseClient(Input{CertificatePEM: testpki.ChainPEM(p.leaf, p.inter), KeyPEM: key, KeyPassphrase: pass}, now)
			wantError(t, err, FieldKey, []string{tt.contains, "openssl pkcs8 -topk8 -v2 aes-256-cbc"}, key)
		})
	}

	t.Run("pkcs12 export", func(t *testing.T) {
		cert := write("cert.pem", p.leaf.CertPEM)
		key := write("key.pem", p.leaf.KeyPEM)
		chain := write("chain.pem", testpki.ChainPEM(p.root, p.inter))
		p12 := run(t, "pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile", chain, "-passout", "pass:"+pass)
		c, err := ParseClient(Input{PKCS12: p12, PKCS12Password: pass}, now)
		if err != nil {
			t.Fatalf("rejected openssl's PKCS#12: %v", err)
		}
		if len(c.Chain) != 3 || !bytes.Equal(c.Chain[1].Raw, p.inter.DER) || !bytes.Equal(c.Chain[2].Raw, p.root.DER) {
			t.Errorf("chain not ordered leaf, intermediate, root")
		}
		checkKey(t, c, p.leaf.Key)
	})
}
