package material

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"strings"
)

// reencrypt is the command that turns any key OpenSSL can read into one
// certbind can decrypt.
const reencrypt = "`openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-pkcs8.pem`"

// parseKeyPEM reads the key file and returns its private key, decrypted with
// passphrase if it is encrypted, and the key's unencrypted PKCS#8 DER when
// the file held it in that form (nil when it held PKCS#1 or SEC 1). The key
// is of a supported type; whether it belongs to the certificate is the
// caller's check.
func parseKeyPEM(data []byte, passphrase string) (crypto.Signer, []byte, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, errorf(FieldKey, "the key file is empty; it must hold the client certificate's private key in PEM, starting with -----BEGIN PRIVATE KEY-----")
	}
	if !hasPEM(data) {
		return nil, nil, notPEMKey(data)
	}
	blocks, err := splitPEM(data, keyFile)
	if err != nil {
		return nil, nil, err
	}
	b, err := findKeyBlock(blocks)
	if err != nil {
		return nil, nil, err
	}
	typ, der, err := decryptKeyBlock(b, passphrase)
	if err != nil {
		return nil, nil, err
	}
	key, err := parsePrivateKey(typ, der, b.line)
	if err != nil {
		return nil, nil, err
	}
	signer, err := supportedSigner(key, FieldKey)
	if err != nil || typ != "PRIVATE KEY" {
		return signer, nil, err
	}
	return signer, der, nil
}

// notPEMKey explains a key file without a single BEGIN line.
func notPEMKey(data []byte) error {
	if looksBinary(data) {
		switch sniffDER(data) {
		case derCertificate:
			return errorf(FieldKey, "the key file is a DER (binary) certificate, not a private key; pass the certificate with --cert (in PEM) and its private key with --key")
		case derPKCS12:
			return errorf(FieldKey, "the key file is a PKCS#12 (.p12/.pfx) file; upload it as a PKCS#12 file instead of a certificate and key")
		}
		return errorf(FieldKey, "the key file is binary, but PEM text is required; convert a DER key with `openssl pkey -inform der -in key.der -out key.pem`")
	}
	text := string(bytes.TrimSpace(data))
	switch {
	case strings.HasPrefix(text, "PuTTY-User-Key-File-"):
		return errorf(FieldKey, "the key file is a PuTTY key; in PuTTYgen use Conversions > Export OpenSSH key, then convert that file with `ssh-keygen -p -m PKCS8 -f key`")
	case strings.HasPrefix(text, "ssh-"), strings.HasPrefix(text, "ecdsa-sha2-"):
		return errorf(FieldKey, "the key file holds an SSH public key; certbind needs the private key that belongs to the client certificate, in PEM")
	}
	return errorf(FieldKey, "the key file holds no PEM block; expected a private key in PEM, starting with -----BEGIN PRIVATE KEY-----")
}

// findKeyBlock returns the one private key block of the key file.
func findKeyBlock(blocks []block) (block, error) {
	var key block
	for _, b := range blocks {
		switch b.Type {
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			if key.Block != nil {
				return block{}, errorf(FieldKey, "the key file holds more than one private key (at lines %d and %d); keep only the client certificate's key", key.line, b.line)
			}
			key = b
		case "EC PARAMETERS":
			// `openssl ecparam -genkey` writes the curve before the key;
			// the key names its curve itself, so the block adds nothing.
		case "CERTIFICATE", "TRUSTED CERTIFICATE":
			return block{}, errorf(FieldKey, "the key file holds a certificate (PEM block at line %d); pass certificates with --cert and keep only the private key in this file", b.line)
		case "OPENSSH PRIVATE KEY":
			return block{}, errorf(FieldKey, "the key file is in OpenSSH format, which certbind does not read; convert a copy to PKCS#8 with `ssh-keygen -p -m PKCS8 -f key` (it rewrites the file in place)")
		case "PUBLIC KEY", "RSA PUBLIC KEY":
			return block{}, errorf(FieldKey, "the key file holds a public key (PEM block at line %d); certbind needs the private key that belongs to the client certificate", b.line)
		case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
			return block{}, errorf(FieldKey, "the key file holds a certificate signing request (PEM block at line %d), not a private key; pass the private key the request was made with", b.line)
		default:
			if isPrivateKeyType(b.Type) {
				return block{}, errorf(FieldKey, "the key file holds a private key block of %s (line %d), a key type certbind does not support; it accepts %s", blockType(b.Type), b.line, supportedKeys)
			}
			return block{}, errorf(FieldKey, "the key file holds a PEM block of %s at line %d; it must hold only the private key (PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY or ENCRYPTED PRIVATE KEY)", blockType(b.Type), b.line)
		}
	}
	if key.Block == nil {
		return block{}, errorf(FieldKey, "the key file holds no private key, only EC PARAMETERS; pass the file with the -----BEGIN EC PRIVATE KEY----- block")
	}
	return key, nil
}

// decryptKeyBlock returns the DER of b and the PEM type it should be parsed
// as, decrypting PKCS#8 and legacy OpenSSL encryption.
func decryptKeyBlock(b block, passphrase string) (string, []byte, error) {
	_, legacy := b.Headers["DEK-Info"]
	legacy = legacy || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED")
	encrypted := legacy || b.Type == "ENCRYPTED PRIVATE KEY"
	switch {
	case encrypted && passphrase == "":
		return "", nil, errorf(FieldPassphrase, "the private key is encrypted; pass its passphrase with --key-passphrase")
	case !encrypted && passphrase != "":
		return "", nil, errorf(FieldPassphrase, "a passphrase was given, but the private key is not encrypted; leave out --key-passphrase")
	case b.Type == "ENCRYPTED PRIVATE KEY":
		der, err := decryptPKCS8(b.Bytes, passphrase)
		return "PRIVATE KEY", der, err
	case legacy:
		der, err := decryptLegacy(b, passphrase)
		return b.Type, der, err
	}
	return b.Type, b.Bytes, nil
}

// decryptLegacy undoes OpenSSL's traditional PEM encryption (Proc-Type and
// DEK-Info headers). The format derives its key with one round of MD5, which
// is why it is deprecated, but keys made by older tools still use it and the
// key is re-encrypted properly once stored.
func decryptLegacy(b block, passphrase string) ([]byte, error) {
	// The deprecation warns of padding oracles against a remote decryptor;
	// here the uploader holds both the ciphertext and the passphrase, so
	// there is no secret for an oracle to reveal.
	//lint:ignore SA1019 keys from `openssl ec -aes256` and `openssl rsa -traditional` use this format
	der, err := x509.DecryptPEMBlock(b.Block, []byte(passphrase))
	if errors.Is(err, x509.IncorrectPasswordError) {
		return nil, wrongPassphrase()
	}
	if err != nil {
		return nil, errorf(FieldKey, "the encrypted key's DEK-Info header is damaged or names a cipher certbind does not support (%s); re-encrypt the key with %s", clean(strings.TrimPrefix(err.Error(), "x509: ")), reencrypt)
	}
	if !wellFormedSequence(der) {
		return nil, wrongPassphrase()
	}
	return der, nil
}

func wrongPassphrase() error {
	return errorf(FieldPassphrase, "the passphrase does not decrypt the private key; check --key-passphrase")
}
