// Package certs keeps the signing certificates of persons and enterprises:
// it makes a hosted key in the platform key store, has the platform CA issue
// a certificate for it, records both in the Certificate entity, and later
// renews, revokes (published on the CRL and OCSP by the CA) and finds the
// signer of a certificate for the signing pipeline.
//
// A person's certificate never carries the resident ID number: its subject
// serialNumber is pki.PseudonymousID of the number under the platform's
// pseudonym key. An enterprise certificate carries the name and the unified
// social credit code (public registration data).
//
// The key store and the CA are slow, external resources (an HSM): no
// database transaction is held open across them.
package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"signet/ent"
	"signet/ent/certificate"
	"signet/errs"
	"signet/signingcore/keystore"
	"signet/signingcore/pki"
	"signet/viewer"
)

// Service issues and manages certificates.
type Service struct {
	db           *ent.Client
	keys         keystore.Store
	ca           *pki.CA
	pseudonymKey []byte
	now          func() time.Time
	// signers keeps the parsed certificate and the key found for recently
	// used hosted certificates (Signer).
	signers signerCache
}

// signerCache holds Signers by certificate ID. An entry is used only for the
// same DER and key URI as the row just read, and only after the row's
// status, custody and validity were checked, so a revoked or replaced
// certificate is never signed with from the cache.
type signerCache struct {
	mu sync.Mutex
	m  map[int]*Signer
}

// signerCacheSize bounds the cache; it is emptied when full.
const signerCacheSize = 1024

func (c *signerCache) get(id int, der []byte, keyURI string) *Signer {
	c.mu.Lock()
	defer c.mu.Unlock()
	sg := c.m[id]
	if sg == nil || sg.keyURI != keyURI || !bytes.Equal(sg.Certificate.Raw, der) {
		return nil
	}
	return sg
}

func (c *signerCache) put(sg *Signer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= signerCacheSize {
		c.m = make(map[int]*Signer)
	}
	c.m[sg.CertificateID] = sg
}

// Config builds a Service. PseudonymKey is the secret (at least 16 bytes)
// person certificates' pseudonymous ids are derived under; it must stay the
// same for the life of the platform so a renewed certificate names the same
// person.
type Config struct {
	DB           *ent.Client
	Keys         keystore.Store
	CA           *pki.CA
	PseudonymKey []byte
	Now          func() time.Time
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Keys == nil || cfg.CA == nil {
		return nil, fmt.Errorf("certs: DB, Keys and CA are required")
	}
	if len(cfg.PseudonymKey) < 16 {
		return nil, fmt.Errorf("certs: the pseudonym key must be at least 16 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{db: cfg.DB, keys: cfg.Keys, ca: cfg.CA, pseudonymKey: cfg.PseudonymKey, now: cfg.Now}, nil
}

// PseudonymousID returns the identifier a person's certificate carries for
// the ID number.
func (s *Service) PseudonymousID(idNumber string) (string, error) {
	return pki.PseudonymousID(s.pseudonymKey, idNumber)
}

// IssuePerson makes a hosted key and a person certificate for a verified
// user and records it. name is the verified real name.
func (s *Service) IssuePerson(ctx context.Context, userID int, name, idNumber string) (*ent.Certificate, error) {
	subjectID, err := s.PseudonymousID(idNumber)
	if err != nil {
		return nil, fmt.Errorf("issue person: %w", err)
	}
	key, err := s.generate(ctx, fmt.Sprintf("person-%d", userID))
	if err != nil {
		return nil, err
	}
	iss, err := s.ca.IssuePerson(ctx, pki.PersonRequest{Name: name, SubjectID: subjectID, Key: pki.SubjectKey{KeyURI: key.Info().URI}})
	if err != nil {
		s.dropKey(ctx, key)
		return nil, fmt.Errorf("issue person: %w", err)
	}
	c, err := s.record(ctx, s.db.Certificate.Create().SetKind(certificate.KindPerson).SetUserID(userID).
		SetSubjectID(subjectID), iss)
	if err != nil {
		s.dropKey(ctx, key)
		return nil, err
	}
	return c, nil
}

// IssueEnterprise makes a hosted key and an enterprise certificate and
// records it. The credit code is checked (GB 32100) by the CA.
func (s *Service) IssueEnterprise(ctx context.Context, enterpriseID int, name, creditCode string) (*ent.Certificate, error) {
	code, err := pki.CheckCreditCode(creditCode)
	if err != nil {
		return nil, err
	}
	key, err := s.generate(ctx, fmt.Sprintf("enterprise-%d", enterpriseID))
	if err != nil {
		return nil, err
	}
	iss, err := s.ca.IssueEnterprise(ctx, pki.EnterpriseRequest{Name: name, CreditCode: code, Key: pki.SubjectKey{KeyURI: key.Info().URI}})
	if err != nil {
		s.dropKey(ctx, key)
		return nil, fmt.Errorf("issue enterprise: %w", err)
	}
	c, err := s.record(ctx, s.db.Certificate.Create().SetKind(certificate.KindEnterprise).SetEnterpriseID(enterpriseID).
		SetSubjectID(code), iss)
	if err != nil {
		s.dropKey(ctx, key)
		return nil, err
	}
	return c, nil
}

// RecordUKey records an enterprise certificate the CA makes on a UKey and
// mails to the enterprise (custody "ukey"). It stays pending until the
// token's certificate is bound; the key never reaches the server.
func (s *Service) RecordUKey(ctx context.Context, enterpriseID int, name, creditCode string, ukeyType certificate.UkeyType) (*ent.Certificate, error) {
	c, err := s.db.Certificate.Create().SetKind(certificate.KindEnterprise).SetEnterpriseID(enterpriseID).
		SetCustody(certificate.CustodyUkey).SetUkeyType(ukeyType).SetStatus(certificate.StatusPending).
		SetSubject("CN=" + name).SetSubjectID(creditCode).Save(viewer.System(ctx))
	if err != nil {
		return nil, fmt.Errorf("record ukey: %w", err)
	}
	return c, nil
}

// Renew issues a new certificate on the same hosted key for the subject of
// an active one; the old one is superseded (revoked with reason superseded
// by the CA, so it appears on the CRL). It returns the new certificate.
func (s *Service) Renew(ctx context.Context, certID int) (*ent.Certificate, error) {
	sys := viewer.System(ctx)
	old, err := s.db.Certificate.Get(sys, certID)
	if err != nil {
		return nil, notFound(err)
	}
	if old.Status != certificate.StatusActive || old.Custody != certificate.CustodyHosted {
		return nil, errs.New(errs.Conflict, "只有有效的托管证书可以续期")
	}
	iss, err := s.ca.Renew(ctx, pki.RenewRequest{Serial: old.Serial})
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	create := s.db.Certificate.Create().SetKind(old.Kind).SetSubjectID(old.SubjectID).SetSupersedesID(old.ID).
		SetNillableUserID(old.UserID).SetNillableEnterpriseID(old.EnterpriseID)
	c, err := s.record(ctx, create, iss)
	if err != nil {
		return nil, err
	}
	if err := s.db.Certificate.UpdateOneID(old.ID).SetStatus(certificate.StatusSuperseded).
		SetRevokedAt(s.now()).SetRevocationReason(pki.ReasonSuperseded.String()).Exec(sys); err != nil {
		return nil, fmt.Errorf("renew: mark old: %w", err)
	}
	// Seals bound to the old certificate now sign with the new one.
	if err := s.db.Seal.Update().Where(sealCertificate(old.ID)).SetCertificateID(c.ID).Exec(sys); err != nil {
		return nil, fmt.Errorf("renew: rebind seals: %w", err)
	}
	return c, nil
}

// Revoke revokes a certificate at the CA (it appears on the CRL and OCSP
// answers "revoked") and marks it revoked. A pending UKey certificate is
// simply cancelled. It returns Conflict for one already revoked.
func (s *Service) Revoke(ctx context.Context, certID int, reason pki.RevocationReason) error {
	sys := viewer.System(ctx)
	c, err := s.db.Certificate.Get(sys, certID)
	if err != nil {
		return notFound(err)
	}
	switch c.Status {
	case certificate.StatusRevoked, certificate.StatusSuperseded:
		return errs.New(errs.Conflict, "证书已吊销")
	}
	if c.Serial != "" {
		if err := s.ca.Revoke(ctx, c.Serial, reason); err != nil && !errs.Is(err, errs.Conflict) {
			return fmt.Errorf("revoke: %w", err)
		}
	}
	n, err := s.db.Certificate.Update().
		Where(certificate.ID(c.ID), certificate.StatusIn(certificate.StatusActive, certificate.StatusPending)).
		SetStatus(certificate.StatusRevoked).SetRevokedAt(s.now()).SetRevocationReason(reason.String()).Save(sys)
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if n == 0 {
		return errs.New(errs.Conflict, "证书已吊销")
	}
	return nil
}

// Signer is what the signing pipeline needs to sign with a hosted
// certificate: the key (in the key store, never exported), the certificate
// and its chain (issuing CA, root).
type Signer struct {
	CertificateID int
	Key           crypto.Signer
	Certificate   *x509.Certificate
	Chain         []*x509.Certificate
	keyURI        string
}

// Signer returns the signer of an active hosted certificate. It returns
// Conflict for a revoked, expired or UKey certificate (a UKey signs on the
// user's PC). The row is read and checked every time; the parsed
// certificate and the key come from a cache when the row still names them.
// The Signer is shared: callers must not modify it.
func (s *Service) Signer(ctx context.Context, certID int) (*Signer, error) {
	c, err := s.db.Certificate.Get(viewer.System(ctx), certID)
	if err != nil {
		return nil, notFound(err)
	}
	return s.SignerOf(ctx, c)
}

// SignerWith is SignerOf(row) when row is certificate certID (read with
// the seal bound to it), and Signer(certID) otherwise.
func (s *Service) SignerWith(ctx context.Context, certID int, row *ent.Certificate) (*Signer, error) {
	if row != nil && row.ID == certID {
		return s.SignerOf(ctx, row)
	}
	return s.Signer(ctx, certID)
}

// SignerColumns are the columns of a certificate row SignerOf reads: a
// caller that reads the row for it (enterprises.SealForSigning) may select
// only these.
var SignerColumns = []string{certificate.FieldID, certificate.FieldStatus, certificate.FieldCustody,
	certificate.FieldNotAfter, certificate.FieldDer, certificate.FieldKeyURI}

// SignerOf is Signer for a certificate row the caller has just read (the
// signing pipeline reads it with the seal bound to it, in one statement:
// enterprises.SealForSigning), with SignerColumns at least. It checks the
// row as Signer does.
func (s *Service) SignerOf(ctx context.Context, c *ent.Certificate) (*Signer, error) {
	if err := Signs(c, s.now()); err != nil {
		return nil, err
	}
	if c.Custody != certificate.CustodyHosted {
		return nil, errs.New(errs.Conflict, "该证书为UKey证书，请使用UKey签署")
	}
	if sg := s.signers.get(c.ID, c.Der, c.KeyURI); sg != nil {
		return sg, nil
	}
	cert, err := x509.ParseCertificate(c.Der)
	if err != nil {
		return nil, fmt.Errorf("signer: parse certificate %d: %w", c.ID, err)
	}
	key, err := s.keys.Find(ctx, c.KeyURI)
	if err != nil {
		return nil, fmt.Errorf("signer: key of certificate %d: %w", c.ID, err)
	}
	chain, err := s.ca.Chain()
	if err != nil {
		return nil, fmt.Errorf("signer: chain: %w", err)
	}
	sg := &Signer{CertificateID: c.ID, Key: key, Certificate: cert, Chain: chain, keyURI: c.KeyURI}
	s.signers.put(sg)
	return sg, nil
}

// Signs says why certificate c (with its status and end, at least) cannot
// sign at now, hosted or on a UKey, or nil.
func Signs(c *ent.Certificate, now time.Time) error {
	if c.Status != certificate.StatusActive {
		return errs.New(errs.Conflict, "证书已失效，无法签署")
	}
	if c.NotAfter != nil && !now.Before(*c.NotAfter) {
		return errs.New(errs.Conflict, "证书已过期，请续期后再签署")
	}
	return nil
}

// ActivePerson returns the user's active personal certificate, or NotFound.
func (s *Service) ActivePerson(ctx context.Context, userID int) (*ent.Certificate, error) {
	c, err := s.db.Certificate.Query().
		Where(certificate.UserID(userID), certificate.KindEQ(certificate.KindPerson), certificate.StatusEQ(certificate.StatusActive)).
		Order(ent.Desc(certificate.FieldID)).First(viewer.System(ctx))
	if err != nil {
		return nil, notFoundMsg(err, "尚未完成实名认证，没有个人证书")
	}
	return c, nil
}

// ActiveEnterprise returns the enterprise's newest active (or pending UKey)
// certificate, or NotFound.
func (s *Service) ActiveEnterprise(ctx context.Context, enterpriseID int) (*ent.Certificate, error) {
	c, err := s.db.Certificate.Query().
		Where(certificate.EnterpriseID(enterpriseID), certificate.StatusIn(certificate.StatusActive, certificate.StatusPending)).
		Order(ent.Desc(certificate.FieldID)).First(viewer.System(ctx))
	if err != nil {
		return nil, notFoundMsg(err, "企业没有有效的证书")
	}
	return c, nil
}

func (s *Service) record(ctx context.Context, create *ent.CertificateCreate, iss *pki.Issued) (*ent.Certificate, error) {
	c, err := create.SetSerial(iss.Serial).SetSubject(iss.Certificate.Subject.String()).
		SetKeyURI(iss.KeyURI).SetDer(iss.DER()).SetFingerprint(pki.Fingerprint(iss.DER())).
		SetNotBefore(iss.Certificate.NotBefore).SetNotAfter(iss.Certificate.NotAfter).
		Save(viewer.System(ctx))
	if err != nil {
		return nil, fmt.Errorf("record certificate: %w", err)
	}
	return c, nil
}

func (s *Service) generate(ctx context.Context, prefix string) (keystore.Key, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("key label: %w", err)
	}
	key, err := s.keys.Generate(ctx, prefix+"-"+hex.EncodeToString(b), keystore.ECP256)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

func (s *Service) dropKey(ctx context.Context, key keystore.Key) {
	_ = s.keys.Delete(context.WithoutCancel(ctx), key.Info().URI)
}

func notFound(err error) error { return notFoundMsg(err, "证书不存在") }

func notFoundMsg(err error, msg string) error {
	if ent.IsNotFound(err) {
		return errs.New(errs.NotFound, msg)
	}
	return err
}
