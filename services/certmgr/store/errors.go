package store

import "errors"

// Errors returned by certificate reads and writes.
var (
	// ErrNotFound: no certificate with that id in that account and project.
	ErrNotFound = errors.New("certificate not found")
	// ErrNameTaken: the account and project already have a certificate with
	// that name.
	ErrNameTaken = errors.New("certificate name already in use")
)

// Errors returned by API key operations.
var (
	// ErrKeyNotFound: no API key with that hash.
	ErrKeyNotFound = errors.New("api key not found")
)
