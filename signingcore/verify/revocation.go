package verify

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"golang.org/x/crypto/ocsp"

	"signet/errs"
	"signet/signingcore/pki"
)

// RevocationState is what a RevocationSource knows about a certificate.
type RevocationState int

// The revocation states.
const (
	// Unknown: the source cannot tell (not its certificate, no data).
	Unknown RevocationState = iota
	// Good: not revoked.
	Good
	// Revoked: revoked at Revocation.RevokedAt.
	Revoked
)

// Revocation is a RevocationSource's answer.
type Revocation struct {
	State RevocationState
	// RevokedAt and Reason are set when State is Revoked.
	RevokedAt time.Time
	Reason    string
}

// RevocationSource tells whether a certificate is revoked.
type RevocationSource interface {
	// Status returns the status of cert, issued by issuer, as the source
	// knows it when asked about time at. A certificate revoked after at is
	// still reported Revoked with its RevokedAt, so the verifier can tell
	// "revoked before signing" (the signature is invalid) from "revoked
	// later" (the signature stays valid). An error means the source could
	// not be asked; the status is then reported unknown.
	Status(ctx context.Context, cert, issuer *x509.Certificate, at time.Time) (Revocation, error)
}

// PKIRevocation answers from the platform CA itself: it builds an OCSP
// response with pki.CA.OCSPForCertificate and reads it back, so the answer
// is exactly what the CA's OCSP responder would send.
type PKIRevocation struct {
	CA *pki.CA
}

// Status implements RevocationSource. Certificates of other issuers are
// Unknown.
func (p PKIRevocation) Status(ctx context.Context, cert, issuer *x509.Certificate, at time.Time) (Revocation, error) {
	if p.CA == nil {
		return Revocation{}, fmt.Errorf("verify: PKIRevocation without a CA")
	}
	ica, err := p.CA.IssuingCertificate()
	if err != nil {
		return Revocation{}, fmt.Errorf("verify: platform CA: %w", err)
	}
	if issuer == nil || !issuer.Equal(ica) {
		return Revocation{State: Unknown}, nil
	}
	der, err := p.CA.OCSPForCertificate(ctx, cert)
	if errs.Is(err, errs.Invalid) {
		return Revocation{State: Unknown}, nil
	}
	if err != nil {
		return Revocation{}, fmt.Errorf("verify: platform OCSP: %w", err)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, ica)
	if err != nil {
		return Revocation{}, fmt.Errorf("verify: parse platform OCSP: %w", err)
	}
	switch resp.Status {
	case ocsp.Good:
		return Revocation{State: Good}, nil
	case ocsp.Revoked:
		return Revocation{State: Revoked, RevokedAt: resp.RevokedAt, Reason: pki.RevocationReason(resp.RevocationReason).String()}, nil
	}
	return Revocation{State: Unknown}, nil
}
