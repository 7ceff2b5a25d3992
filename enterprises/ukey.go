package enterprises

import (
	"context"

	"signet/audit"
	"signet/ent"
	"signet/ent/certificate"
	entseal "signet/ent/seal"
	"signet/errs"
	"signet/jobs"
	"signet/viewer"
)

// UKey custody (ENT-1): with 一key一章 every seal has its own token, so
// every seal has its own custody record; with 一key多章 one token carries
// every seal of the enterprise, so they share one record. A record is
// pending until the certificate of its token is bound.

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

// BindUKeyCertificate binds a UKey's certificate (PEM or DER) to one of the
// console enterprise's pending UKey records and the seals on it, checking
// the custody rules: a 一key一章 record carries exactly one seal.
func (s *Service) BindUKeyCertificate(ctx context.Context, certID int, data []byte) (*ent.Certificate, error) {
	c, err := s.consoleCert(ctx, certID)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errs.InvalidField("certificate", "请提供UKey中的证书")
	}
	sys := viewer.System(ctx)
	seals, err := s.db.Seal.Query().Where(entseal.CertificateID(c.ID), entseal.StatusNEQ(entseal.StatusVoided)).IDs(sys)
	if err != nil {
		return nil, err
	}
	if c.UkeyType != nil && *c.UkeyType == certificate.UkeyTypeOneKeyOneSeal && len(seals) != 1 {
		return nil, errs.Newf(errs.Conflict, "一key一章的UKey只能绑定一枚印章，该UKey对应%d枚有效印章", len(seals))
	}
	bound, err := s.certs.BindUKey(ctx, c.ID, data)
	if err != nil {
		return nil, err
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		p := certPayload(bound)
		p["seals"] = seals
		p["fingerprint"] = bound.Fingerprint
		return s.record(ctx, tx, fact{Enterprise: c.EnterpriseID, Action: audit.CertificateBound, Subject: subjectCertificate(c.ID), Payload: p})
	})
	if err != nil {
		return nil, err
	}
	return bound, nil
}
