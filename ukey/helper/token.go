package helper

import (
	"context"
	"crypto/x509"
	"errors"

	"signet/signingcore/keystore"
)

// TokenCertificate is a certificate found on a token, with what it takes to
// sign with the private key of the same CKA_ID.
type TokenCertificate struct {
	Certificate *x509.Certificate
	// KeyID is the CKA_ID shared by the certificate and its private key.
	KeyID []byte
	// Token is the token's label; Label the certificate object's label.
	Token, Label string
	// KeyURI names the private key (RFC 7512, no PIN).
	KeyURI string
}

// Token is the user's UKey as the helper sees it: certificates can be read
// without the PIN; signing needs it.
type Token interface {
	// Certificates lists the certificates on every token present. It
	// returns ErrNoToken when no token is present.
	Certificates(ctx context.Context) ([]TokenCertificate, error)
	// Sign signs a SHA-256 digest with the key of c after logging in with
	// pin: ECDSA as ASN.1 DER, RSA as PKCS#1 v1.5 over the DigestInfo.
	// keystore's errors tell a wrong PIN (errs.Unauthenticated), a locked
	// one (errs.Forbidden) and a missing token (errs.NotFound) apart.
	Sign(ctx context.Context, c TokenCertificate, pin keystore.Secret, digest []byte) ([]byte, error)
}

// ErrNoToken says that no token is present (none inserted, or removed).
var ErrNoToken = errors.New("helper: no token present")
