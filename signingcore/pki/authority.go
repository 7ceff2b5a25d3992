package pki

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"
)

// CertificateAuthority is what the application needs from a certificate
// authority, built-in or external (a licensed CA such as BJCA, reached
// through its API). Every operation that issues returns an Order: an
// in-house CA completes it at once, an external one may leave it pending
// while the provider checks the request, and the application then follows
// the order with Order — from a periodic job, or when the provider's
// callback arrives (the callback handler only needs the order ID and calls
// Order to fetch the authoritative result). Keep the order ID with the
// subject, so a restart loses nothing.
//
// Errors use the errs vocabulary: errs.Invalid for a request the CA refuses
// outright (bad name, credit code or key), errs.NotFound for an unknown order
// or serial, errs.Conflict for a certificate already revoked, and any other
// error for a provider that cannot be reached (retry later).
//
// An external adapter that cannot use hosted keys directly makes a CSR with
// the hosted key (SubjectKey.KeyURI names it in the same key store) and
// submits that.
type CertificateAuthority interface {
	// IssuePerson orders a person's certificate.
	IssuePerson(ctx context.Context, req PersonRequest) (Order, error)
	// IssueEnterprise orders an enterprise's certificate.
	IssueEnterprise(ctx context.Context, req EnterpriseRequest) (Order, error)
	// Renew orders a new certificate for the subject of an existing one; the
	// old one is superseded (revoked with reason superseded) once the new one
	// is issued.
	Renew(ctx context.Context, req RenewRequest) (Order, error)
	// Revoke revokes a certificate by serial (SerialHex). It returns when the
	// CA has accepted the revocation.
	Revoke(ctx context.Context, serial string, reason RevocationReason) error
	// Order returns the current state of an order.
	Order(ctx context.Context, id string) (Order, error)
}

// OrderStatus is the state of a certificate order.
type OrderStatus string

// Order states. Pending may become Issued or Rejected; those two are final.
const (
	OrderPending  OrderStatus = "pending"
	OrderIssued   OrderStatus = "issued"
	OrderRejected OrderStatus = "rejected"
)

// Order is a certificate order at a CA.
type Order struct {
	// ID identifies the order at the CA. The built-in CA uses the serial of
	// the issued certificate.
	ID     string
	Status OrderStatus
	// Issued is set when Status is OrderIssued.
	Issued *Issued
	// Reason explains a rejection, in Chinese, for the user.
	Reason string
	// UpdatedAt is when the order last changed state.
	UpdatedAt time.Time
}

// Builtin adapts the platform CA to CertificateAuthority. Its orders are
// issued (or refused with an error) immediately.
type Builtin struct {
	CA *CA
}

var _ CertificateAuthority = Builtin{}

// IssuePerson implements CertificateAuthority.
func (b Builtin) IssuePerson(ctx context.Context, req PersonRequest) (Order, error) {
	return b.done(b.CA.IssuePerson(ctx, req))
}

// IssueEnterprise implements CertificateAuthority.
func (b Builtin) IssueEnterprise(ctx context.Context, req EnterpriseRequest) (Order, error) {
	return b.done(b.CA.IssueEnterprise(ctx, req))
}

// Renew implements CertificateAuthority.
func (b Builtin) Renew(ctx context.Context, req RenewRequest) (Order, error) {
	return b.done(b.CA.Renew(ctx, req))
}

// Revoke implements CertificateAuthority.
func (b Builtin) Revoke(ctx context.Context, serial string, reason RevocationReason) error {
	return b.CA.Revoke(ctx, serial, reason)
}

// Order implements CertificateAuthority: the order ID is the serial.
func (b Builtin) Order(ctx context.Context, id string) (Order, error) {
	rec, err := b.CA.cfg.Repo.Issued(ctx, id)
	if err != nil {
		return Order{}, fmt.Errorf("order %s: %w", id, err)
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return Order{}, fmt.Errorf("order %s: %w", id, err)
	}
	chain, err := b.CA.Chain()
	if err != nil {
		return Order{}, err
	}
	return Order{
		ID: rec.Serial, Status: OrderIssued, UpdatedAt: cert.NotBefore,
		Issued: &Issued{Serial: rec.Serial, Certificate: cert, Chain: chain, KeyURI: rec.KeyURI},
	}, nil
}

func (b Builtin) done(iss *Issued, err error) (Order, error) {
	if err != nil {
		return Order{}, err
	}
	return Order{ID: iss.Serial, Status: OrderIssued, Issued: iss, UpdatedAt: b.CA.cfg.Now()}, nil
}
