package store

import (
	"errors"

	"github.com/certbind/certbind/internal/auth"
)

// Errors returned by certificate reads and writes.
var (
	// ErrNotFound: no certificate with that id in that account and project.
	ErrNotFound = errors.New("certificate not found")
	// ErrNameTaken: the account and project already have a certificate with
	// that name.
	ErrNameTaken = errors.New("certificate name already in use")
	// ErrUndecodable: the stored record does not decode. Reads return a
	// stand-in with Certificate.Damaged set; writes to it are refused.
	ErrUndecodable = errors.New("stored certificate record does not decode")
)

// Errors returned by API key operations.
var (
	// ErrKeyNotFound: no API key with that hash. It is auth's, which a
	// KeyStore answers for a key it does not hold.
	ErrKeyNotFound = auth.ErrKeyNotFound
)
