package pki

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"math/big"
	"sync"
	"time"

	"signet/errs"
)

// RevocationReason is an RFC 5280 CRLReason code.
type RevocationReason int

// RFC 5280 section 5.3.1 reason codes (7 is not used).
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonCACompromise         RevocationReason = 2
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonCertificateHold      RevocationReason = 6
	ReasonRemoveFromCRL        RevocationReason = 8
	ReasonPrivilegeWithdrawn   RevocationReason = 9
	ReasonAACompromise         RevocationReason = 10
)

// String returns the RFC 5280 name of the reason.
func (r RevocationReason) String() string {
	switch r {
	case ReasonUnspecified:
		return "unspecified"
	case ReasonKeyCompromise:
		return "keyCompromise"
	case ReasonCACompromise:
		return "cACompromise"
	case ReasonAffiliationChanged:
		return "affiliationChanged"
	case ReasonSuperseded:
		return "superseded"
	case ReasonCessationOfOperation:
		return "cessationOfOperation"
	case ReasonCertificateHold:
		return "certificateHold"
	case ReasonRemoveFromCRL:
		return "removeFromCRL"
	case ReasonPrivilegeWithdrawn:
		return "privilegeWithdrawn"
	case ReasonAACompromise:
		return "aACompromise"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// revocable reports whether a subscriber certificate may be revoked with r.
// certificateHold is refused because revocation here is final (nothing can
// be un-revoked); removeFromCRL only exists in delta CRLs; the CA and AA
// compromise reasons belong on CA certificates.
func (r RevocationReason) revocable() bool {
	switch r {
	case ReasonUnspecified, ReasonKeyCompromise, ReasonAffiliationChanged, ReasonSuperseded,
		ReasonCessationOfOperation, ReasonPrivilegeWithdrawn:
		return true
	}
	return false
}

// Revoke revokes the certificate with the serial (SerialHex) for the reason,
// effective now. Revocation is final. It returns errs.Invalid for a reason a
// subscriber certificate cannot have, errs.NotFound for a serial this CA did
// not issue and errs.Conflict when the certificate is already revoked.
func (ca *CA) Revoke(ctx context.Context, serial string, reason RevocationReason) error {
	if _, err := ca.loaded(); err != nil {
		return err
	}
	if !reason.revocable() {
		return fmt.Errorf("revoke certificate: %w", errs.InvalidField("reason", "不支持的吊销原因"))
	}
	rec, err := ca.cfg.Repo.Issued(ctx, serial)
	if err != nil {
		return fmt.Errorf("revoke certificate: %w", err)
	}
	if rec.Revocation != nil {
		return fmt.Errorf("revoke certificate: %w", errs.New(errs.Conflict, "证书已被吊销"))
	}
	// CRLs and OCSP carry whole seconds.
	rev := Revocation{Serial: rec.Serial, Time: ca.cfg.Now().UTC().Truncate(time.Second), Reason: reason}
	if err := ca.cfg.Repo.RecordRevocation(ctx, rev); err != nil {
		return fmt.Errorf("revoke certificate: %w", err)
	}
	return nil
}

// crlCache holds the last CRL built for one issuer.
type crlCache struct {
	mu        sync.Mutex
	der       []byte
	revDigest [32]byte  // digest of the revocations it lists
	refreshAt time.Time // half-way between thisUpdate and nextUpdate
}

// CRL returns the issuing CA's current CRL (DER), listing every revoked
// certificate it issued. A CRL is reused until half of its validity has
// passed or the set of revocations changes (also by another node sharing the
// repository); then a new one with the next CRL number is signed.
func (ca *CA) CRL(ctx context.Context) ([]byte, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	revs, err := ca.cfg.Repo.ListRevoked(ctx)
	if err != nil {
		return nil, fmt.Errorf("crl: %w", err)
	}
	der, err := ca.buildCRL(ctx, &ca.issuingCRL, "issuing", revs, h.issuing, h.issKey, ca.cfg.CRLValidity)
	if err != nil {
		return nil, fmt.Errorf("crl: %w", err)
	}
	return der, nil
}

// RootCRL returns the root CA's CRL (DER). It covers the issuing CA, which
// is never revoked by this package, so it is empty; it exists so validators
// (and LTV validation data) can check the issuing CA's status.
func (ca *CA) RootCRL(ctx context.Context) ([]byte, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	der, err := ca.buildCRL(ctx, &ca.rootCRL, "root", nil, h.root, h.rootKey, ca.cfg.RootCRLValidity)
	if err != nil {
		return nil, fmt.Errorf("root crl: %w", err)
	}
	return der, nil
}

func (ca *CA) buildCRL(ctx context.Context, c *crlCache, sequence string, revs []Revocation,
	issuer *x509.Certificate, key crypto.Signer, validity time.Duration) ([]byte, error) {
	digest := revocationsDigest(revs)
	now := ca.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.der != nil && c.revDigest == digest && now.Before(c.refreshAt) {
		return c.der, nil
	}
	entries := make([]x509.RevocationListEntry, 0, len(revs))
	for _, r := range revs {
		serial, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("bad serial %q in repository", r.Serial)
		}
		// Reason 0 (unspecified) is left out of the entry, as RFC 5280 asks.
		entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: r.Time, ReasonCode: int(r.Reason)})
	}
	num, err := ca.cfg.Repo.NextCRLNumber(ctx, sequence)
	if err != nil {
		return nil, err
	}
	thisUpdate := now.UTC().Truncate(time.Second)
	nextUpdate := thisUpdate.Add(validity)
	if nextUpdate.After(issuer.NotAfter) {
		nextUpdate = issuer.NotAfter
	}
	der, err := x509.CreateRevocationList(ca.cfg.Rand, &x509.RevocationList{
		Number:                    big.NewInt(num),
		ThisUpdate:                thisUpdate,
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}, issuer, key)
	if err != nil {
		return nil, fmt.Errorf("create crl: %w", err)
	}
	c.der, c.revDigest, c.refreshAt = der, digest, thisUpdate.Add(validity/2)
	return der, nil
}

func revocationsDigest(revs []Revocation) [32]byte {
	h := sha256.New()
	var buf [8]byte
	for _, r := range revs {
		h.Write([]byte(r.Serial))
		binary.BigEndian.PutUint64(buf[:], uint64(r.Time.Unix()))
		h.Write(buf[:])
		h.Write([]byte{byte(r.Reason), 0})
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}
