// Package keystore holds signing keys behind one interface that returns
// crypto.Signer: a PKCS#11 store for HSMs (SoftHSM in tests, a network HSM in
// production) and a software store whose keys are encrypted at rest with a
// master key, the embedded default. Both pass the same conformance suite
// (package keystoretest).
//
// Keys are addressed by URI: RFC 7512 PKCS#11 URIs ("pkcs11:token=…;object=…;id=…")
// for the PKCS#11 store and "soft:…" URIs for the software store. A PIN is never
// part of a URI and never logged: ParsePKCS11URI rejects pin-value and
// pin-source, and Secret and PKCS11Config redact themselves when printed,
// logged or marshalled.
//
// # Software store
//
// OpenSoft keeps one file per key in a directory: the PKCS#8 private key
// sealed with AES-256-GCM under a 32-byte master key file, with the label,
// algorithm, id and public key bound in as additional data, so any change to a
// file is detected (ErrKeyCorrupt). A wrong master key fails at open with an
// errs.Unauthenticated error. Labels are unique, even across processes that
// share the directory. URIs: "soft:id=<hex>;object=<label>" (canonical),
// "soft:id=<hex>", "soft:object=<label>" or "soft:<label>".
//
// # PKCS#11 store
//
// OpenPKCS11 selects the token by label, takes the PIN from the configuration
// or a file, and keeps a pool of logged-in sessions (PKCS11Config.Sessions).
// Generated keys are token objects with a random 16-byte CKA_ID and the label
// as CKA_LABEL; private halves are sensitive and not extractable. Signing uses
// raw-digest mechanisms (CKM_ECDSA, CKM_RSA_PKCS over a DigestInfo,
// CKM_RSA_PKCS_PSS), so a digest computed elsewhere can be signed. A lost
// session (token reset) is replaced transparently; a token that is gone gives
// ErrTokenUnavailable. SignDigest, ParsePKCS11URI, ECDSARawToDER and
// RSADigestInfo serve one-off signers such as the UKey helper. The PKCS#11
// store needs cgo; without cgo only the software store is built.
//
// Errors a caller can cause carry codes from signet/errs: Invalid (bad label,
// algorithm, URI or digest), NotFound, Conflict (label in use) and
// Unauthenticated (wrong PIN or master key).
package keystore

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"

	"signet/errs"
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

// Errors a store wraps (check them with errors.Is). Errors a caller can cause
// are errs errors instead (Invalid, NotFound, Conflict, Unauthenticated).
var (
	// ErrClosed is returned by a store, or a key of a PKCS#11 store, after
	// Close.
	ErrClosed = errors.New("keystore: store is closed")
	// ErrKeyCorrupt means a software key file failed authentication: it was
	// damaged or tampered with.
	ErrKeyCorrupt = errors.New("keystore: key file is corrupt or was tampered with")
	// ErrTokenUnavailable means the PKCS#11 token went away (removed, reset,
	// sessions lost) and could not be reached again.
	ErrTokenUnavailable = errors.New("keystore: PKCS#11 token not present or its sessions were lost")
)

// Secret holds a PIN or another credential. It formats, logs and marshals as
// "[REDACTED]" so a configuration struct holding one can be printed or logged
// safely; use string(s) where the value itself is needed.
type Secret string

const redacted = "[REDACTED]"

// String implements fmt.Stringer without revealing the secret.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v) without revealing the secret.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%d, %x, %#v, ...) shows
// the redaction, not the secret.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer without revealing the secret.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText implements encoding.TextMarshaler (JSON, YAML) without
// revealing the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// maxLabelBytes bounds a key label (PKCS#11 has no limit; file names and
// URIs stay short).
const maxLabelBytes = 128

// checkLabel returns an errs.Invalid error for an empty, too long or
// non-printable label.
func checkLabel(label string) error {
	switch {
	case label == "":
		return errs.InvalidField("label", "密钥名称不能为空")
	case len(label) > maxLabelBytes:
		return errs.InvalidField("label", fmt.Sprintf("密钥名称过长，最多 %d 字节", maxLabelBytes))
	case !utf8.ValidString(label):
		return errs.InvalidField("label", "密钥名称不是有效的 UTF-8 文本")
	case strings.TrimSpace(label) != label:
		return errs.InvalidField("label", "密钥名称首尾不能有空白字符")
	}
	for _, r := range label {
		if unicode.IsControl(r) {
			return errs.InvalidField("label", "密钥名称不能包含控制字符")
		}
	}
	return nil
}

// checkAlgorithm returns alg, ECP256 for "", or an errs.Invalid error.
func checkAlgorithm(alg Algorithm) (Algorithm, error) {
	switch alg {
	case "":
		return ECP256, nil
	case ECP256, RSA2048, RSA3072:
		return alg, nil
	}
	return "", errs.InvalidField("algorithm", "不支持的密钥算法，可选 EC-P256、RSA-2048、RSA-3072")
}

// signHash returns the hash of opts after checking digest against it.
func signHash(digest []byte, opts crypto.SignerOpts) (crypto.Hash, error) {
	if opts == nil {
		return 0, errs.Wrap(errors.New("keystore: nil SignerOpts"), errs.Invalid, "签名时必须指明摘要算法")
	}
	h := opts.HashFunc()
	if err := checkDigest(h, digest); err != nil {
		return 0, err
	}
	return h, nil
}
