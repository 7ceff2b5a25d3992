package accounts

// Certificate login and UKey binding (PRODUCT.md ACC-4, ACC-8).
//
// The server issues a challenge (package ukey: a random nonce for one
// purpose and one origin, with an expiry), stored in the database so any node
// can check it and used up by the first answer. The page has the local helper
// (cmd/signet-ukey) sign SHA-256 of the challenge text with the token's key,
// and sends back the nonce, the certificate and the signature. The server
// then checks, in order: the challenge (known, purpose, not used, not
// expired; used up now whatever follows), the signature with the
// certificate's key, the certificate's validity and chain to the platform
// root, that it is a person's certificate, its revocation status (OCSP from
// the platform CA), and finally the binding: for login, the account the
// certificate is bound to; for binding, that the certificate names the
// logged-in user's verified identity (real name and pseudonymous id, as on
// the user's hosted personal certificate).
//
// The PIN never reaches the server: it is typed at the helper.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"time"

	"signet/audit"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/identityverification"
	"signet/ent/ukeybinding"
	"signet/ent/ukeychallenge"
	"signet/errs"
	"signet/signingcore/pki"
	"signet/sms"
	"signet/ukey"
	"signet/viewer"
)

// PurposeUKeyUnbind is the SMS code that confirms unbinding a UKey.
const PurposeUKeyUnbind Purpose = "ukey_unbind"

// DefaultUKeyChallengeTTL is a challenge's life: long enough to insert the
// UKey, confirm at the helper and type the PIN.
const DefaultUKeyChallengeTTL = 2 * time.Minute

// UKeyConfig enables certificate login and UKey binding.
type UKeyConfig struct {
	// CA is the platform CA: certificates must chain to its root, and its
	// OCSP answers say whether they are revoked.
	CA *pki.CA
	// Origin is the Signet origin (scheme://host[:port]) challenges name;
	// the helper signs a challenge only for a page of that origin.
	Origin string
	// ChallengeTTL is DefaultUKeyChallengeTTL when zero.
	ChallengeTTL time.Duration
}

func (c UKeyConfig) check() error {
	if c.CA == nil {
		return nil // disabled
	}
	if err := ukey.CheckOrigin(c.Origin); err != nil {
		return fmt.Errorf("accounts: UKey origin: %w", err)
	}
	return nil
}

func (s *Service) ukeyEnabled() error {
	if s.ukey.CA == nil {
		return errs.New(errs.Forbidden, "本平台未开通证书登录")
	}
	return nil
}

func (s *Service) ukeyRecordEnabled() error {
	if s.ukey.CA == nil {
		return errs.New(errs.Forbidden, "本平台未开通 UKey 验证")
	}
	return nil
}

// CreateUKeyChallenge issues a challenge for login (anyone) or for binding a
// UKey to the viewer's account (logged in only).
func (s *Service) CreateUKeyChallenge(ctx context.Context, purpose ukey.Purpose) (ukey.Challenge, error) {
	if err := s.ukeyEnabled(); err != nil {
		return ukey.Challenge{}, err
	}
	switch purpose {
	case ukey.PurposeLogin:
		return s.issueChallenge(ctx, challengeScope{purpose: purpose})
	case ukey.PurposeBind:
		u, err := s.currentUser(ctx)
		if err != nil {
			return ukey.Challenge{}, err
		}
		return s.issueChallenge(ctx, challengeScope{purpose: purpose, userID: u.ID})
	}
	return ukey.Challenge{}, errs.InvalidField("purpose", "不支持的用途")
}

// CreateUKeyChallengeFor issues a challenge by which the viewer proves that
// a UKey holds a certificate's key before an operation on one record:
// ukey.PurposeBindEnterprise, binding the enterprise's UKey custody record
// certificateID (package enterprises). The caller has checked that the
// viewer may act on the record; ProveUKeyPossession takes the answer.
func (s *Service) CreateUKeyChallengeFor(ctx context.Context, purpose ukey.Purpose, certificateID int) (ukey.Challenge, error) {
	if err := s.ukeyRecordEnabled(); err != nil {
		return ukey.Challenge{}, err
	}
	if purpose != ukey.PurposeBindEnterprise || certificateID <= 0 {
		return ukey.Challenge{}, errs.InvalidField("purpose", "不支持的用途")
	}
	u, err := s.currentUser(ctx)
	if err != nil {
		return ukey.Challenge{}, err
	}
	return s.issueChallenge(ctx, challengeScope{purpose: purpose, userID: u.ID, certificateID: certificateID})
}

// ProveUKeyPossession takes the viewer's answer to a challenge of
// CreateUKeyChallengeFor(purpose, certificateID): it uses up the challenge —
// whatever follows, so an answer is never taken twice — and checks the
// signature over it with the key of in.Certificate (DER). It returns the
// certificate; which certificates the operation accepts (issuer, subject,
// revocation) is the caller's to check. Invalid (field nonce) for a missing,
// unknown, used or expired challenge and for one issued to another user,
// purpose or record; Invalid (field signature) for a signature another key
// made; Invalid (field certificate) for a malformed certificate.
func (s *Service) ProveUKeyPossession(ctx context.Context, purpose ukey.Purpose, certificateID int, in UKeySignature) (*x509.Certificate, error) {
	if err := s.ukeyRecordEnabled(); err != nil {
		return nil, err
	}
	u, err := s.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	_, cert, err := s.prove(ctx, challengeScope{purpose: purpose, userID: u.ID, certificateID: certificateID}, in)
	return cert, err
}

// challengeScope is what a challenge is issued for and the only answer it
// takes: the purpose, the user it was issued to (none for login) and the
// record it concerns (an enterprise's UKey custody record for
// bind_enterprise, none otherwise).
type challengeScope struct {
	purpose       ukey.Purpose
	userID        int
	certificateID int
}

// issueChallenge stores a new challenge for the scope and the configured
// origin.
func (s *Service) issueChallenge(ctx context.Context, sc challengeScope) (ukey.Challenge, error) {
	sys := viewer.System(ctx)
	purpose := ukeychallenge.Purpose(sc.purpose)
	if err := ukeychallenge.PurposeValidator(purpose); err != nil {
		return ukey.Challenge{}, errs.InvalidField("purpose", "不支持的用途")
	}
	create := s.db.UKeyChallenge.Create().SetPurpose(purpose)
	if sc.userID != 0 {
		create.SetUserID(sc.userID)
	}
	if sc.certificateID != 0 {
		create.SetCertificateID(sc.certificateID)
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return ukey.Challenge{}, fmt.Errorf("ukey challenge: %w", err)
	}
	now := s.now()
	ttl := s.ukey.ChallengeTTL
	if ttl <= 0 {
		ttl = DefaultUKeyChallengeTTL
	}
	ch := ukey.Challenge{Purpose: sc.purpose, Origin: s.ukey.Origin, Nonce: base64.RawURLEncoding.EncodeToString(raw),
		ExpiresAt: now.Add(ttl).UTC().Truncate(time.Second)}
	err := create.SetNonce(ch.Nonce).SetOrigin(ch.Origin).SetIP(truncate(viewer.ClientFrom(ctx).IP, 64)).
		SetExpiresAt(ch.ExpiresAt).SetCreatedAt(now).Exec(sys)
	if err != nil {
		return ukey.Challenge{}, fmt.Errorf("ukey challenge: %w", err)
	}
	// Housekeeping: challenges are worthless an hour after expiry.
	if _, err := s.db.UKeyChallenge.Delete().Where(ukeychallenge.ExpiresAtLT(now.Add(-time.Hour))).Exec(sys); err != nil {
		s.log.WarnContext(ctx, "delete old ukey challenges", "err", err)
	}
	return ch, nil
}

// UKeySignature is the page's answer to a challenge: the helper's signature
// over the challenge digest and the certificate (DER) whose key made it.
type UKeySignature struct {
	Nonce       string
	Certificate []byte
	Signature   []byte
}

// LoginByCertificate logs in the account a personal UKey certificate is
// bound to (ACC-4), given a signed login challenge. The session's method is
// "certificate".
func (s *Service) LoginByCertificate(ctx context.Context, in UKeySignature) (AuthResult, error) {
	if err := s.ukeyEnabled(); err != nil {
		return AuthResult{}, err
	}
	_, cert, err := s.prove(ctx, challengeScope{purpose: ukey.PurposeLogin}, in)
	if err != nil {
		return AuthResult{}, err
	}
	if err := s.checkPersonCertificate(ctx, cert); err != nil {
		return AuthResult{}, err
	}
	sys := viewer.System(ctx)
	b, err := s.db.UKeyBinding.Query().Where(ukeybinding.Fingerprint(ukey.Fingerprint(cert.Raw))).WithUser().Only(sys)
	if ent.IsNotFound(err) {
		return AuthResult{}, errs.New(errs.Unauthenticated, "该证书尚未绑定账号，请先用手机号登录，在账号设置中绑定 UKey")
	}
	if err != nil {
		return AuthResult{}, fmt.Errorf("certificate login: %w", err)
	}
	return s.login(ctx, b.Edges.User, MethodCertificate)
}

// BindUKey binds a personal UKey certificate to the viewer's account after a
// signed bind challenge proved possession of its key (ACC-8). The
// certificate must be a valid platform certificate naming the viewer's
// verified identity. It returns Conflict when the certificate is bound
// already.
func (s *Service) BindUKey(ctx context.Context, in UKeySignature) (*ent.UKeyBinding, error) {
	if err := s.ukeyEnabled(); err != nil {
		return nil, err
	}
	u, err := s.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	_, cert, err := s.prove(ctx, challengeScope{purpose: ukey.PurposeBind, userID: u.ID}, in)
	if err != nil {
		return nil, err
	}
	if err := s.checkPersonCertificate(ctx, cert); err != nil {
		return nil, err
	}
	if err := s.checkIdentity(ctx, u, cert); err != nil {
		return nil, err
	}
	var b *ent.UKeyBinding
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		var err error
		b, err = tx.UKeyBinding.Create().SetUserID(u.ID).SetFingerprint(ukey.Fingerprint(cert.Raw)).
			SetSerial(pki.SerialHex(cert.SerialNumber)).SetSubject(truncate(cert.Subject.String(), 256)).SetDer(cert.Raw).
			SetNotAfter(cert.NotAfter).SetBoundAt(s.now()).Save(viewer.System(ctx))
		if ent.IsConstraintError(err) {
			return errs.New(errs.Conflict, "该 UKey 已绑定账号")
		}
		if err != nil {
			return fmt.Errorf("bind ukey: %w", err)
		}
		return s.auditUKey(ctx, tx, u, audit.UKeyBound, b)
	})
	if err != nil {
		return nil, err
	}
	b = b.Unwrap()
	s.log.InfoContext(ctx, "ukey bound", "user", u.ID, "serial", b.Serial)
	return b, nil
}

// UKeyBindings lists the viewer's bound UKeys, newest first.
func (s *Service) UKeyBindings(ctx context.Context) ([]*ent.UKeyBinding, error) {
	u, err := s.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	// Read as the viewer: the privacy rule keeps other users' rows out.
	bs, err := s.db.UKeyBinding.Query().Where(ukeybinding.UserID(u.ID)).
		Order(ent.Desc(ukeybinding.FieldBoundAt), ent.Desc(ukeybinding.FieldID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("ukey bindings: %w", err)
	}
	return bs, nil
}

// SendUKeyUnbindCode sends the viewer's phone a code that confirms
// unbinding a UKey.
func (s *Service) SendUKeyUnbindCode(ctx context.Context) (SentCode, error) {
	u, err := s.currentUser(ctx)
	if err != nil {
		return SentCode{}, err
	}
	return s.IssueCode(ctx, CodeRequest{Phone: u.Phone, Purpose: PurposeUKeyUnbind, Scope: strconv.Itoa(u.ID), Template: sms.TemplateGeneric})
}

// UnbindUKeyInput identifies a binding and proves the account holder: the
// login password or a code from SendUKeyUnbindCode.
type UnbindUKeyInput struct {
	ID       int
	Password string
	Code     string
}

// UnbindUKey removes one of the viewer's UKey bindings after checking the
// password or the SMS code (ACC-8). Another user's binding is NotFound.
func (s *Service) UnbindUKey(ctx context.Context, in UnbindUKeyInput) error {
	u, err := s.currentUser(ctx)
	if err != nil {
		return err
	}
	sys := viewer.System(ctx)
	b, err := s.db.UKeyBinding.Query().Where(ukeybinding.ID(in.ID), ukeybinding.UserID(u.ID)).Only(sys)
	if ent.IsNotFound(err) {
		return errs.New(errs.NotFound, "未找到该 UKey 绑定")
	}
	if err != nil {
		return fmt.Errorf("unbind ukey: %w", err)
	}
	switch {
	case in.Password != "":
		if err := s.checkLoginThrottle(ctx, u.Phone); err != nil {
			return err
		}
		ok, err := s.checkPassword(ctx, u.ID, in.Password)
		if err != nil {
			return err
		}
		if !ok {
			s.recordLoginFailure(ctx, u.Phone, "ukey_unbind")
			return errs.InvalidField("password", "登录密码错误")
		}
	case in.Code != "":
		if err := s.ConsumeCode(ctx, "code", u.Phone, PurposeUKeyUnbind, strconv.Itoa(u.ID), in.Code); err != nil {
			return err
		}
	default:
		return errs.InvalidField("password", "请输入登录密码或短信验证码")
	}
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		if _, err := tx.UKeyBinding.Delete().Where(ukeybinding.ID(b.ID)).Exec(sys); err != nil {
			return fmt.Errorf("unbind ukey: %w", err)
		}
		return s.auditUKey(ctx, tx, u, audit.UKeyUnbound, b)
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "ukey unbound", "user", u.ID, "serial", b.Serial)
	return nil
}

// prove uses up the challenge in.Nonce of the scope (useChallenge), then
// checks in.Signature over its digest with the key of in.Certificate.
func (s *Service) prove(ctx context.Context, sc challengeScope, in UKeySignature) (*ent.UKeyChallenge, *x509.Certificate, error) {
	ch, err := s.useChallenge(ctx, in.Nonce, sc)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(in.Certificate)
	if err != nil {
		return nil, nil, errs.InvalidField("certificate", "证书格式不正确")
	}
	text := ukey.Challenge{Purpose: ukey.Purpose(ch.Purpose), Origin: ch.Origin, Nonce: ch.Nonce, ExpiresAt: ch.ExpiresAt.UTC()}
	if err := verifyDigestSignature(cert.PublicKey, text.Digest(), in.Signature); err != nil {
		return nil, nil, errs.InvalidField("signature", "签名验证失败，请确认使用的是所选证书的 UKey")
	}
	return ch, cert, nil
}

// useChallenge uses up a challenge: known, issued for exactly the scope
// (purpose, user, record), not used before and not expired. The
// conditional update makes it single-use across nodes.
func (s *Service) useChallenge(ctx context.Context, nonce string, sc challengeScope) (*ent.UKeyChallenge, error) {
	sys := viewer.System(ctx)
	bad := errs.InvalidField("nonce", "验证请求无效，请重试")
	if nonce == "" || len(nonce) > 64 {
		return nil, bad
	}
	ch, err := s.db.UKeyChallenge.Query().Where(ukeychallenge.Nonce(nonce)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, bad
	}
	if err != nil {
		return nil, fmt.Errorf("ukey challenge: %w", err)
	}
	if string(ch.Purpose) != string(sc.purpose) || intOrZero(ch.UserID) != sc.userID || intOrZero(ch.CertificateID) != sc.certificateID {
		return nil, bad
	}
	now := s.now()
	if !now.Before(ch.ExpiresAt) {
		return nil, errs.InvalidField("nonce", "验证请求已过期，请重试")
	}
	n, err := s.db.UKeyChallenge.Update().
		Where(ukeychallenge.ID(ch.ID), ukeychallenge.UsedAtIsNil(), ukeychallenge.ExpiresAtGT(now)).
		SetUsedAt(now).Save(sys)
	if err != nil {
		return nil, fmt.Errorf("ukey challenge: %w", err)
	}
	if n == 0 {
		return nil, errs.InvalidField("nonce", "验证请求已使用，请重试")
	}
	return ch, nil
}

func intOrZero(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// checkPersonCertificate checks a login or bind certificate whose key signed
// the challenge: validity, chain to the platform root, a person's
// certificate, not revoked.
func (s *Service) checkPersonCertificate(ctx context.Context, cert *x509.Certificate) error {
	now := s.now()
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return errs.InvalidField("certificate", "证书不在有效期内")
	}
	chain, err := s.ukey.CA.Chain()
	if err != nil {
		return fmt.Errorf("ukey certificate: %w", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[len(chain)-1])
	for _, c := range chain[:len(chain)-1] {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
		return errs.InvalidField("certificate", "该证书不是本平台签发的有效证书")
	}
	if !isPersonCertificate(cert) {
		return errs.InvalidField("certificate", "只有个人证书可以用于登录或绑定，企业证书不可以")
	}
	return s.ukey.CA.CheckNotRevoked(ctx, cert, chain[0])
}

// verifyDigestSignature checks an ECDSA (ASN.1 DER) or RSA PKCS#1 v1.5
// signature over a SHA-256 digest.
func verifyDigestSignature(pub crypto.PublicKey, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return fmt.Errorf("ecdsa signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig)
	}
	return fmt.Errorf("unsupported key %T", pub)
}

// oidOrganizationIdentifier marks enterprise certificates (see package pki).
var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// isPersonCertificate tells the platform's person certificates (CN and a
// pseudonymous serialNumber) from enterprise ones (O and
// organizationIdentifier), following package pki's profile.
func isPersonCertificate(c *x509.Certificate) bool {
	if c.Subject.CommonName == "" || c.Subject.SerialNumber == "" || len(c.Subject.Organization) > 0 {
		return false
	}
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidOrganizationIdentifier) {
			return false
		}
	}
	return true
}

// checkIdentity requires the certificate to name the user's verified
// identity: the verified real name, and the pseudonymous id the platform
// derived from the ID number (as on the user's own personal certificates).
func (s *Service) checkIdentity(ctx context.Context, u *ent.User, cert *x509.Certificate) error {
	sys := viewer.System(ctx)
	v, err := s.db.IdentityVerification.Query().
		Where(identityverification.UserID(u.ID), identityverification.StatusEQ(identityverification.StatusVerified)).
		Order(ent.Desc(identityverification.FieldID)).First(sys)
	if ent.IsNotFound(err) {
		return errs.New(errs.Forbidden, "请先完成个人实名认证，再绑定 UKey")
	}
	if err != nil {
		return fmt.Errorf("bind ukey: %w", err)
	}
	ids, err := s.db.Certificate.Query().
		Where(certificate.UserID(u.ID), certificate.KindEQ(certificate.KindPerson)).
		Select(certificate.FieldSubjectID).Strings(sys)
	if err != nil {
		return fmt.Errorf("bind ukey: %w", err)
	}
	match := false
	for _, id := range ids {
		if id != "" && id == cert.Subject.SerialNumber {
			match = true
		}
	}
	if !match || cert.Subject.CommonName != v.Name {
		return errs.InvalidField("certificate", "该证书不属于您本人（证书上的身份与您的实名认证信息不一致）")
	}
	return nil
}

// auditUKey records a bind or unbind on the user's trail.
func (s *Service) auditUKey(ctx context.Context, tx *ent.Tx, u *ent.User, action audit.Action, b *ent.UKeyBinding) error {
	_, err := audit.Append(ctx, tx, audit.Event{Chain: audit.UserChain(u.ID), Actor: audit.User(u.ID, MaskPhone(u.Phone)),
		Action: action, Subject: audit.Subject{Type: "ukey", ID: b.ID},
		Payload: map[string]any{"serial": b.Serial, "fingerprint": b.Fingerprint}})
	return err
}
