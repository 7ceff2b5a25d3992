package pki

import (
	"context"
	"time"
)

// Repository persists the CA. The application backs it with its database;
// FileRepository keeps it in a directory. Implementations must be safe for
// concurrent use.
type Repository interface {
	// LoadState returns the saved hierarchy, or an errs.NotFound error when
	// none has been saved yet.
	LoadState(ctx context.Context) (State, error)
	// SaveState stores the hierarchy, replacing any earlier one.
	SaveState(ctx context.Context, st State) error

	// RecordIssued stores a newly issued certificate. A serial that is
	// already recorded returns an errs.Conflict error.
	RecordIssued(ctx context.Context, rec IssuedCert) error
	// Issued returns the record of the certificate with the serial
	// (lower-case hex, see SerialHex), with Revocation set when it was
	// revoked, or an errs.NotFound error.
	Issued(ctx context.Context, serial string) (IssuedCert, error)
	// RecordRevocation marks a recorded certificate revoked. An unknown
	// serial returns errs.NotFound; one already revoked returns errs.Conflict.
	RecordRevocation(ctx context.Context, rev Revocation) error
	// ListRevoked returns every revocation ordered by time, then serial.
	ListRevoked(ctx context.Context) ([]Revocation, error)

	// NextCRLNumber returns the next number of the named CRL sequence
	// ("issuing" or "root"), starting at 1 and strictly increasing, also
	// across processes sharing the repository.
	NextCRLNumber(ctx context.Context, sequence string) (int64, error)
}

// State is the persisted hierarchy: the three certificates and where their
// keys are.
type State struct {
	RootDER       []byte `json:"root_der"`
	RootKeyURI    string `json:"root_key_uri"`
	IssuingDER    []byte `json:"issuing_der"`
	IssuingKeyURI string `json:"issuing_key_uri"`
	TSADER        []byte `json:"tsa_der"`
	TSAKeyURI     string `json:"tsa_key_uri"`
	// CreatedAt is when Init completed.
	CreatedAt time.Time `json:"created_at"`
}

// Kind is what an issued certificate is for.
type Kind string

// Kinds of issued certificates.
const (
	KindPerson     Kind = "person"
	KindEnterprise Kind = "enterprise"
	KindTSA        Kind = "tsa"
)

// IssuedCert records one certificate issued by the issuing CA.
type IssuedCert struct {
	// Serial is the certificate serial number, lower-case hex (SerialHex).
	Serial string `json:"serial"`
	Kind   Kind   `json:"kind"`
	// SubjectID is the pseudonymous person identifier or the enterprise's
	// unified social credit code; it finds a subject's certificates.
	SubjectID string `json:"subject_id"`
	// KeyURI is set for hosted keys (the key store URI of the private key).
	KeyURI    string    `json:"key_uri,omitempty"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Supersedes is the serial of the certificate this one renewed.
	Supersedes string `json:"supersedes,omitempty"`
	DER        []byte `json:"der"`
	// Revocation is set by Repository.Issued when the certificate is revoked;
	// it is ignored by RecordIssued.
	Revocation *Revocation `json:"-"`
}

// Revocation records that a certificate was revoked.
type Revocation struct {
	Serial string           `json:"serial"`
	Time   time.Time        `json:"time"`
	Reason RevocationReason `json:"reason"`
}
