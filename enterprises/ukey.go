package enterprises

import (
	"context"
	"crypto/x509"

	"signet/accounts"
	"signet/audit"
	"signet/certs"
	"signet/ent"
	"signet/ent/certificate"
	entseal "signet/ent/seal"
	"signet/errs"
	"signet/jobs"
	"signet/ukey"
	"signet/viewer"
)

// UKey custody (ENT-1): with 一key一章 every seal has its own token, so
// every seal has its own custody record; with 一key多章 one token carries
// every seal of the enterprise, so they share one record. A record is
// pending until the certificate of its token is bound — by an administrator
// who proves, through the local helper, that the token holds the
// certificate's key (CreateUKeyBindChallenge, BindUKeyCertificate).

// IssueUKeyCertificate has the CA issue the certificate of one of the
// console enterprise's pending UKey records for the token's key (its
// PKCS#10 request) and returns it in PEM. The platform CA stands in for
// the external CA that makes and mails the token.
func (s *Service) IssueUKeyCertificate(ctx context.Context, certID int, csr []byte) ([]byte, error) {
	c, err := s.consoleCert(ctx, certID)
	if err != nil {
		return nil, err
	}
	if len(csr) == 0 {
		return nil, errs.InvalidField("csr", "请提供UKey生成的证书请求（CSR）")
	}
	return s.certs.IssueUKey(ctx, c.ID, csr)
}

// CreateUKeyBindChallenge issues the challenge by which the administrator
// proves that the plugged-in UKey holds the key of the certificate to bind
// to one of the console enterprise's pending UKey records (purpose
// bind_enterprise, scoped to the viewer and the record, short-lived and
// single-use; see accounts.CreateUKeyChallengeFor). The certificate (PEM or
// DER) is checked first as BindUKeyCertificate will check it, so a
// certificate that cannot be bound is refused before the helper asks for
// the PIN.
func (s *Service) CreateUKeyBindChallenge(ctx context.Context, certID int, data []byte) (ukey.Challenge, error) {
	c, err := s.consoleCert(ctx, certID)
	if err != nil {
		return ukey.Challenge{}, err
	}
	x, err := ukeyCertificate(data)
	if err != nil {
		return ukey.Challenge{}, err
	}
	if _, err := s.ukeySeals(ctx, s.db, c); err != nil {
		return ukey.Challenge{}, err
	}
	if err := s.certs.CheckUKey(ctx, c.ID, x); err != nil {
		return ukey.Challenge{}, err
	}
	return s.accounts.CreateUKeyChallengeFor(ctx, ukey.PurposeBindEnterprise, c.ID)
}

// UKeyBinding is the administrator's answer to a CreateUKeyBindChallenge
// challenge: the certificate read from the UKey (PEM or DER) and the
// helper's signature over the challenge with its key.
type UKeyBinding struct {
	CertificateID int
	Certificate   []byte
	Nonce         string
	Signature     []byte
}

// BindUKeyCertificate binds a UKey's certificate to one of the console
// enterprise's pending UKey records and the seals on it, once the
// administrator proved possession of its key: the challenge (issued to the
// viewer for this record, not used, not expired) is used up whatever
// follows, and the signature over it must verify with the certificate's
// key. Then the custody rules (a 一key一章 record carries exactly one seal)
// and the certificate (certs.BindUKey's checks) are checked, and the record
// is bound in the transaction that records the binding on the trail.
// Forbidden for a non-administrator; NotFound for another enterprise's
// record; Invalid for a missing, unknown, used, expired or foreign
// challenge, a signature of another key or a certificate that does not fit;
// Conflict for a record or certificate bound already and the seal count.
func (s *Service) BindUKeyCertificate(ctx context.Context, in UKeyBinding) (*ent.Certificate, error) {
	c, err := s.consoleCert(ctx, in.CertificateID)
	if err != nil {
		return nil, err
	}
	x, err := ukeyCertificate(in.Certificate)
	if err != nil {
		return nil, err
	}
	if in.Nonce == "" || len(in.Signature) == 0 {
		return nil, errs.InvalidField("signature", "请先在证书应用环境中确认并输入 PIN 码，用 UKey 签名后再绑定")
	}
	// The challenge is used up here, in its own statement, so that a
	// refused answer cannot be tried again (as for a personal UKey).
	x, err = s.accounts.ProveUKeyPossession(ctx, ukey.PurposeBindEnterprise, c.ID,
		accounts.UKeySignature{Nonce: in.Nonce, Certificate: x.Raw, Signature: in.Signature})
	if err != nil {
		return nil, err
	}
	var bound *ent.Certificate
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		seals, err := s.ukeySeals(ctx, tx.Client(), c)
		if err != nil {
			return err
		}
		if bound, err = s.certs.BindUKeyTx(ctx, tx, c.ID, x); err != nil {
			return err
		}
		p := certPayload(bound)
		p["seals"] = seals
		p["fingerprint"] = bound.Fingerprint
		return s.record(ctx, tx, fact{Enterprise: c.EnterpriseID, Action: audit.CertificateBound, Subject: subjectCertificate(c.ID), Payload: p})
	})
	if err != nil {
		return nil, err
	}
	return bound.Unwrap(), nil
}

// ukeySeals returns the seals (not voided) on a UKey record, refusing a
// 一key一章 record that does not carry exactly one.
func (s *Service) ukeySeals(ctx context.Context, db *ent.Client, c consoleCertificate) ([]int, error) {
	seals, err := db.Seal.Query().Where(entseal.CertificateID(c.ID), entseal.StatusNEQ(entseal.StatusVoided)).IDs(viewer.System(ctx))
	if err != nil {
		return nil, err
	}
	if c.UkeyType != nil && *c.UkeyType == certificate.UkeyTypeOneKeyOneSeal && len(seals) != 1 {
		return nil, errs.Newf(errs.Conflict, "一key一章的UKey只能绑定一枚印章，该UKey对应%d枚有效印章", len(seals))
	}
	return seals, nil
}

// ukeyCertificate reads the certificate the page took from the UKey.
func ukeyCertificate(data []byte) (*x509.Certificate, error) {
	if len(data) == 0 {
		return nil, errs.InvalidField("certificate", "请提供UKey中的证书")
	}
	return certs.ParseCertificate(data)
}
