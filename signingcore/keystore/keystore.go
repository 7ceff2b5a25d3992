// Package keystore holds signing keys behind one interface that returns
// crypto.Signer: a PKCS#11 store for HSMs (SoftHSM in tests, a network HSM in
// production) and a software store whose keys are encrypted at rest with a
// master key, the embedded default.
//
// Keys are addressed by URI: RFC 7512 PKCS#11 URIs ("pkcs11:token=…;object=…;id=…")
// for the PKCS#11 store and "soft:…" URIs for the software store. A PIN is never
// part of a URI and never logged.
package keystore

import (
	"context"
	"crypto"
)

// Algorithm names a key type.
type Algorithm string

// Supported algorithms. ECP256 is the default.
const (
	ECP256  Algorithm = "EC-P256"
	RSA2048 Algorithm = "RSA-2048"
	RSA3072 Algorithm = "RSA-3072"
)

// KeyInfo describes a stored key.
type KeyInfo struct {
	// URI addresses the key in its store; it never contains a PIN.
	URI string
	// Label is the human-readable name given at generation.
	Label string
	// Algorithm is the key type.
	Algorithm Algorithm
	// Public is the public half (*ecdsa.PublicKey or *rsa.PublicKey).
	Public crypto.PublicKey
}

// Key is a usable private key: a crypto.Signer with its description.
// Sign accepts digests made with crypto.SHA256/384/512 (and RSA-PSS options
// where the store supports them); for ECDSA it returns an ASN.1 DER signature.
type Key interface {
	crypto.Signer
	Info() KeyInfo
}

// Store generates, finds, lists and deletes keys. Implementations are safe
// for concurrent use.
type Store interface {
	// Generate creates a key with the label and algorithm. A label that is
	// already used returns an errs.Conflict error.
	Generate(ctx context.Context, label string, alg Algorithm) (Key, error)
	// Find returns the key at uri, or an errs.NotFound error.
	Find(ctx context.Context, uri string) (Key, error)
	// List returns every key in the store, ordered by label.
	List(ctx context.Context) ([]KeyInfo, error)
	// Delete removes the key at uri, or returns an errs.NotFound error.
	Delete(ctx context.Context, uri string) error
	// Close releases sessions and handles.
	Close() error
}
