package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"

	"signet/ent"
	"signet/ent/certificate"
	"signet/errs"
	"signet/signingcore/pki"
	"signet/viewer"
)

// A UKey custody record (RecordUKey) waits, pending, for the certificate of
// the key the CA mails to the enterprise. The CA makes the key on the token
// and issues its certificate; IssueUKey stands in for that issuance with the
// platform CA (from the token's CSR), and BindUKey accepts the certificate
// — from IssueUKey, or read from the token — and makes the record active.

// oidOrganizationIdentifier is X.520 organizationIdentifier, which carries
// an enterprise certificate's "NTRCN-<credit code>".
var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// IssueUKey has the platform CA issue the certificate of a pending UKey
// custody record for the key in csr (PKCS#10, PEM or DER, made on the
// token; its signature proves possession). It returns the certificate in
// PEM, to be written to the token and bound with BindUKey. Invalid for a
// bad request; Conflict when the record is not pending.
func (s *Service) IssueUKey(ctx context.Context, certID int, csr []byte) ([]byte, error) {
	c, err := pendingUKey(ctx, s.db, certID)
	if err != nil {
		return nil, err
	}
	if c.EnterpriseID == nil {
		return nil, errs.New(errs.Conflict, "只有企业UKey可以在此签发")
	}
	name, err := enterpriseName(ctx, s.db, *c.EnterpriseID)
	if err != nil {
		return nil, err
	}
	iss, err := s.ca.IssueEnterprise(ctx, pki.EnterpriseRequest{Name: name, CreditCode: c.SubjectID, Key: pki.SubjectKey{CSR: csr}})
	if err != nil {
		if e := errs.As(err); e != nil && e.Code == errs.Invalid {
			return nil, errs.Wrap(err, errs.Invalid, e.Message)
		}
		return nil, fmt.Errorf("issue ukey: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.DER()}), nil
}

// BindUKey binds the certificate of a UKey (PEM or DER) to its pending
// custody record: the certificate must be issued by the platform CA chain,
// valid now, and name the record's enterprise (name and credit code); a
// certificate bound elsewhere is refused. The record becomes active with
// the certificate's serial, subject and validity; seals bound to the record
// sign with it (on the token). Invalid for a certificate that does not fit;
// Conflict when the record is not pending. It does not ask for proof that
// the caller holds the key: the console binds through
// enterprises.BindUKeyCertificate, which does, then calls BindUKeyTx.
func (s *Service) BindUKey(ctx context.Context, certID int, data []byte) (*ent.Certificate, error) {
	x, err := parseCertificate(data)
	if err != nil {
		return nil, err
	}
	return s.bindUKey(ctx, s.db, certID, x)
}

// BindUKeyTx is BindUKey for a parsed certificate, in the caller's
// transaction (so that the caller's record of the binding commits with it).
func (s *Service) BindUKeyTx(ctx context.Context, tx *ent.Tx, certID int, x *x509.Certificate) (*ent.Certificate, error) {
	return s.bindUKey(ctx, tx.Client(), certID, x)
}

// CheckUKey tells whether BindUKey would bind the certificate to the
// custody record now, without binding it: the same errors.
func (s *Service) CheckUKey(ctx context.Context, certID int, x *x509.Certificate) error {
	_, err := s.checkUKey(ctx, s.db, certID, x)
	return err
}

// ParseCertificate reads one X.509 certificate, PEM or DER. Invalid when it
// is neither.
func ParseCertificate(data []byte) (*x509.Certificate, error) { return parseCertificate(data) }

func (s *Service) bindUKey(ctx context.Context, db *ent.Client, certID int, x *x509.Certificate) (*ent.Certificate, error) {
	c, err := s.checkUKey(ctx, db, certID, x)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	n, err := db.Certificate.Update().Where(certificate.ID(c.ID), certificate.StatusEQ(certificate.StatusPending)).
		SetStatus(certificate.StatusActive).SetSerial(pki.SerialHex(x.SerialNumber)).SetSubject(truncate(x.Subject.String(), 256)).
		SetDer(x.Raw).SetFingerprint(pki.Fingerprint(x.Raw)).SetNotBefore(x.NotBefore).SetNotAfter(x.NotAfter).SetBoundAt(s.now()).Save(sys)
	if err != nil {
		return nil, fmt.Errorf("bind ukey: %w", err)
	}
	if n == 0 {
		return nil, errs.New(errs.Conflict, "该UKey已绑定证书")
	}
	return db.Certificate.Get(sys, c.ID)
}

// checkUKey returns the pending custody record certID if x may be bound to
// it.
func (s *Service) checkUKey(ctx context.Context, db *ent.Client, certID int, x *x509.Certificate) (*ent.Certificate, error) {
	c, err := pendingUKey(ctx, db, certID)
	if err != nil {
		return nil, err
	}
	chain, err := s.ca.Chain()
	if err != nil {
		return nil, fmt.Errorf("bind ukey: chain: %w", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	inter.AddCert(chain[0])
	roots.AddCert(chain[len(chain)-1])
	if _, err := x.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "证书不是由平台信任的CA签发，或已过期")
	}
	if x.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, errs.InvalidField("certificate", "该证书不能用于签名")
	}
	if err := s.ca.CheckNotRevoked(ctx, x, chain[0]); err != nil {
		return nil, err
	}
	if c.EnterpriseID != nil {
		name, err := enterpriseName(ctx, db, *c.EnterpriseID)
		if err != nil {
			return nil, err
		}
		if x.Subject.CommonName != name || orgIdentifier(x) != "NTRCN-"+c.SubjectID {
			return nil, errs.InvalidField("certificate", "证书主体与企业名称或统一社会信用代码不一致")
		}
	}
	taken, err := db.Certificate.Query().Where(certificate.Fingerprint(pki.Fingerprint(x.Raw))).Exist(viewer.System(ctx))
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, errs.New(errs.Conflict, "该证书已绑定")
	}
	return c, nil
}

func pendingUKey(ctx context.Context, db *ent.Client, certID int) (*ent.Certificate, error) {
	c, err := db.Certificate.Get(viewer.System(ctx), certID)
	if err != nil {
		return nil, notFound(err)
	}
	if c.Custody != certificate.CustodyUkey {
		return nil, errs.New(errs.Conflict, "该证书为托管证书，无需绑定UKey")
	}
	if c.Status != certificate.StatusPending {
		return nil, errs.New(errs.Conflict, "该UKey已绑定证书或已作废")
	}
	return c, nil
}

func enterpriseName(ctx context.Context, db *ent.Client, id int) (string, error) {
	e, err := db.Enterprise.Get(viewer.System(ctx), id)
	if err != nil {
		return "", err
	}
	return e.Name, nil
}

// parseCertificate reads one X.509 certificate, PEM or DER.
func parseCertificate(data []byte) (*x509.Certificate, error) {
	// Only PEM may carry surrounding whitespace: trimming DER could cut a
	// final byte that happens to look like a space.
	if b, _ := pem.Decode(bytes.TrimSpace(data)); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, errs.InvalidField("certificate", "请上传X.509证书（PEM或DER）")
		}
		data = b.Bytes
	}
	x, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "证书格式不正确，请上传X.509证书（PEM或DER）")
	}
	return x, nil
}

func orgIdentifier(x *x509.Certificate) string {
	for _, n := range x.Subject.Names {
		if n.Type.Equal(oidOrganizationIdentifier) {
			if v, ok := n.Value.(string); ok {
				return v
			}
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
