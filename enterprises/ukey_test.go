package enterprises_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/certificate"
	entseal "signet/ent/seal"
	"signet/enterprises"
	. "signet/enterprises/enterprisestest"
	"signet/errs"
	"signet/internal/dbtest"
	"signet/signingcore/keystore"
	"signet/signingcore/pki"
	"signet/ukey"
	"signet/ukey/ukeytest"
	"signet/viewer"
)

// signer signs a challenge digest as the helper does: ECDSA in ASN.1 DER,
// RSA PKCS#1 v1.5 over SHA-256.
type signer func(t *testing.T, digest []byte) []byte

// softKey signs with a software key.
func softKey(key crypto.Signer) signer {
	return func(t *testing.T, digest []byte) []byte {
		t.Helper()
		return Must(key.Sign(rand.Reader, digest, crypto.SHA256))(t)
	}
}

// onToken signs on a SoftHSM token through PKCS#11, as the helper does.
func onToken(tok *ukeytest.Token) signer {
	return func(t *testing.T, digest []byte) []byte {
		t.Helper()
		uri := "pkcs11:token=" + tok.Label + ";id=%" + strings.ToUpper(hex.EncodeToString(tok.KeyID[:1])) + "%" + strings.ToUpper(hex.EncodeToString(tok.KeyID[1:]))
		return Must(keystore.SignDigest(context.Background(), tok.Module, uri, keystore.Secret(tok.PIN), digest, crypto.SHA256))(t)
	}
}

// bindProven binds the certificate (PEM or DER) to the record as ctx's
// administrator: a challenge for it, signed by sign, then the binding.
func bindProven(t *testing.T, ctx context.Context, e *enterprises.Service, recID int, cert []byte, sign signer) (*ent.Certificate, error) {
	t.Helper()
	ch, err := e.CreateUKeyBindChallenge(ctx, recID, cert)
	if err != nil {
		return nil, err
	}
	return e.BindUKeyCertificate(ctx, enterprises.UKeyBinding{CertificateID: recID, Certificate: cert, Nonce: ch.Nonce, Signature: sign(t, ch.Digest())})
}

// plugged makes two stand-in UKeys visible through one SoftHSM
// configuration: A with an ECDSA P-256 key, B with an RSA-2048 key (both
// made by pkcs11-tool on the token).
func plugged(t *testing.T) (a, b *ukeytest.Token) {
	t.Helper()
	a = ukeytest.New(t, ukeytest.ECP256)
	b = Must(ukeytest.Create(t.TempDir(), ukeytest.RSA2048))(t)
	for _, x := range Must(os.ReadDir(b.TokenDir))(t) {
		if err := os.Rename(filepath.Join(b.TokenDir, x.Name()), filepath.Join(a.TokenDir, x.Name())); err != nil {
			t.Fatal(err)
		}
	}
	b.Conf, b.TokenDir = a.Conf, a.TokenDir
	return a, b
}

// TestBindUKeyCertificateProof: the administrator binds an enterprise's UKey
// to its custody record only by proving, with a signature over a
// bind_enterprise challenge, that the token holds the certificate's key —
// ECDSA and RSA keys on SoftHSM tokens — and every refusal: not an
// administrator, another enterprise's record, a certificate not the
// enterprise's or not the platform CA's, bound already, the 一key一章 seal
// count, a missing, unknown, expired, reused challenge, one of another
// purpose, record or user, and a signature by another key or over another
// origin. Through the GraphQL API: the error codes and a binding.
func TestBindUKeyCertificateProof(t *testing.T) {
	tokA, tokB := plugged(t)
	pubA, pubB := tokA.MustPublicKey(t), tokB.MustPublicKey(t)
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		e := s.App.Enterprises
		ca := s.App.Trust.CA
		sys := viewer.System(context.Background())
		admin, adminToken := User(t, s, "13800000051")
		co := Company{Name: "凭证一章有限公司", Code: CreditCode(8101), LegalRep: "贺一", LegalRepPhone: "13900008151",
			Custody: enterprises.CustodyUKey, UKeyType: "one_key_one_seal"}
		o := Certify(t, s, admin, co)
		eid := o.EnterpriseID
		Must(e.SwitchSpace(admin, eid))(t)
		record := func(kind entseal.Kind) int {
			t.Helper()
			return *mustSeal(t, s, eid, kind).CertificateID
		}
		recContract, recOfficial, recLegal := record(entseal.KindContract), record(entseal.KindOfficial), record(entseal.KindLegalRep)
		issue := func(name, code string, pub crypto.PublicKey) []byte {
			t.Helper()
			return Must(ca.IssueEnterprise(context.Background(), pki.EnterpriseRequest{Name: name, CreditCode: code, Key: pki.SubjectKey{PublicKey: pub}}))(t).DER()
		}
		certA := issue(co.Name, co.Code, pubA) // the contract seal's UKey (ECDSA)
		certB := issue(co.Name, co.Code, pubB) // the official seal's UKey (RSA)
		signA, signB := onToken(tokA), onToken(tokB)

		// A member and a second administrator; another enterprise with its
		// own administrator.
		member, _ := User(t, s, "13800000052")
		admin2, _ := User(t, s, "13800000053")
		Must(e.AddMember(admin, "13800000052", enterprises.RoleMember, ""))(t)
		Must(e.AddMember(admin, "13800000053", enterprises.RoleAdmin, ""))(t)
		Must(e.SwitchSpace(member, eid))(t)
		Must(e.SwitchSpace(admin2, eid))(t)
		other, otherTok := User(t, s, "13800000054")
		oo := Certify(t, s, other, Company{Name: "凭证他家有限公司", Code: CreditCode(8102), LegalRep: "贺二", LegalRepPhone: "13900008152",
			Custody: enterprises.CustodyUKey, UKeyType: "one_key_one_seal"})
		Must(e.SwitchSpace(other, oo.EnterpriseID))(t)
		otherRec := *mustSeal(t, s, oo.EnterpriseID, entseal.KindContract).CertificateID

		challenge := func(ctx context.Context, rec int, cert []byte) ukey.Challenge {
			t.Helper()
			return Must(e.CreateUKeyBindChallenge(ctx, rec, cert))(t)
		}
		bind := func(ctx context.Context, rec int, cert []byte, nonce string, sig []byte) (*ent.Certificate, error) {
			return e.BindUKeyCertificate(ctx, enterprises.UKeyBinding{CertificateID: rec, Certificate: cert, Nonce: nonce, Signature: sig})
		}

		t.Run("not an administrator, not the enterprise's record", func(t *testing.T) {
			_, err := e.CreateUKeyBindChallenge(member, recContract, certA)
			wantCode(t, err, errs.Forbidden, "管理员")
			ch := challenge(admin, recContract, certA)
			_, err = bind(member, recContract, certA, ch.Nonce, signA(t, ch.Digest()))
			wantCode(t, err, errs.Forbidden, "管理员")
			_, err = e.CreateUKeyBindChallenge(admin, otherRec, certA)
			wantCode(t, err, errs.NotFound, "")
			_, err = bind(other, recContract, certA, ch.Nonce, signA(t, ch.Digest()))
			wantCode(t, err, errs.NotFound, "")
		})

		t.Run("certificates that cannot be bound are refused before the PIN and at binding", func(t *testing.T) {
			key := Must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
			self := selfSigned(t, key, co.Name)
			personal := Must(ca.IssuePerson(context.Background(), pki.PersonRequest{Name: "贺一", SubjectID: "P1234567890", Key: pki.SubjectKey{PublicKey: pubA}}))(t).DER()
			foreign := issue("凭证他家有限公司", CreditCode(8102), pubA)
			// The enterprise's own certificate on token A, revoked at the CA
			// (a UKey reported lost).
			lost := Must(ca.IssueEnterprise(context.Background(), pki.EnterpriseRequest{Name: co.Name, CreditCode: co.Code, Key: pki.SubjectKey{PublicKey: pubA}}))(t)
			if err := ca.Revoke(context.Background(), lost.Serial, pki.ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
			revoked := lost.DER()
			for _, c := range []struct {
				name string
				cert []byte
				code errs.Code
				msg  string
			}{
				{"missing", nil, errs.Invalid, "证书"},
				{"garbage", []byte("not a certificate"), errs.Invalid, "证书格式"},
				{"not the platform CA's", self, errs.Invalid, "CA"},
				{"a personal certificate", personal, errs.Invalid, "不一致"},
				{"another enterprise's", foreign, errs.Invalid, "不一致"},
				{"revoked", revoked, errs.Invalid, "已吊销"},
			} {
				_, err := e.CreateUKeyBindChallenge(admin, recContract, c.cert)
				wantCode(t, err, c.code, c.msg)
			}
			// The checks run again at binding: a challenge asked for the
			// enterprise's certificate, answered with another one signed by
			// its own key.
			for _, c := range []struct {
				name string
				cert []byte
				sign signer
				msg  string
			}{
				{"self-signed", self, softKey(key), "CA"},
				{"personal", personal, signA, "不一致"},
				{"another enterprise's", foreign, signA, "不一致"},
				{"revoked", revoked, signA, "已吊销"},
			} {
				ch := challenge(admin, recContract, certA)
				_, err := bind(admin, recContract, c.cert, ch.Nonce, c.sign(t, ch.Digest()))
				wantCode(t, err, errs.Invalid, c.msg)
			}
		})

		t.Run("challenges that do not prove possession", func(t *testing.T) {
			ch := challenge(admin, recContract, certA)
			// No challenge or no signature.
			_, err := bind(admin, recContract, certA, "", signA(t, ch.Digest()))
			wantCode(t, err, errs.Invalid, "PIN")
			_, err = bind(admin, recContract, certA, ch.Nonce, nil)
			wantCode(t, err, errs.Invalid, "PIN")
			// An unknown nonce.
			_, err = bind(admin, recContract, certA, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", signA(t, ch.Digest()))
			wantCode(t, err, errs.Invalid, "无效")
			// Another key's signature (B's RSA key for A's certificate); the
			// challenge is used up by the attempt.
			_, err = bind(admin, recContract, certA, ch.Nonce, signB(t, ch.Digest()))
			wantCode(t, err, errs.Invalid, "签名验证失败")
			_, err = bind(admin, recContract, certA, ch.Nonce, signA(t, ch.Digest()))
			wantCode(t, err, errs.Invalid, "已使用")
			// A signature over the challenge for another origin.
			ch = challenge(admin, recContract, certA)
			forged := ch
			forged.Origin = "https://evil.example"
			_, err = bind(admin, recContract, certA, ch.Nonce, signA(t, forged.Digest()))
			wantCode(t, err, errs.Invalid, "签名验证失败")
			// A challenge for another record of the same enterprise.
			ch = challenge(admin, recOfficial, certB)
			_, err = bind(admin, recContract, certA, ch.Nonce, signA(t, ch.Digest()))
			wantCode(t, err, errs.Invalid, "无效")
			// A challenge issued to the other administrator.
			ch = challenge(admin2, recContract, certA)
			_, err = bind(admin, recContract, certA, ch.Nonce, signA(t, ch.Digest()))
			wantCode(t, err, errs.Invalid, "无效")
			// Challenges of the personal path: binding to the account, login.
			for _, p := range []ukey.Purpose{ukey.PurposeBind, ukey.PurposeLogin} {
				pc := Must(s.App.Accounts.CreateUKeyChallenge(admin, p))(t)
				_, err = bind(admin, recContract, certA, pc.Nonce, signA(t, pc.Digest()))
				wantCode(t, err, errs.Invalid, "无效")
			}
			// An expired challenge.
			ch = challenge(admin, recContract, certA)
			s.Clock.Advance(3 * time.Minute)
			_, err = bind(admin, recContract, certA, ch.Nonce, signA(t, ch.Digest()))
			wantCode(t, err, errs.Invalid, "过期")
			if c := Must(s.App.DB.Client.Certificate.Get(sys, recContract))(t); c.Status != certificate.StatusPending {
				t.Fatalf("record %s after the refusals", c.Status)
			}
			// The personal path does not take an enterprise challenge either.
			ch = challenge(admin, recContract, certA)
			_, err = s.App.Accounts.BindUKey(admin, accounts.UKeySignature{Nonce: ch.Nonce, Certificate: certA, Signature: signA(t, ch.Digest())})
			wantCode(t, err, errs.Invalid, "无效")
		})

		t.Run("the 一key一章 seal count", func(t *testing.T) {
			keyL := Must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
			certL := issue(co.Name, co.Code, keyL.Public())
			ch := challenge(admin, recLegal, certL)
			// A second seal moved onto the legal representative's record
			// (after the challenge: the binding checks again).
			Must(s.App.DB.Client.Seal.Create().SetEnterpriseID(eid).SetKind(entseal.KindCustom).SetName("财务专用章").
				SetImage(mustSeal(t, s, eid, entseal.KindContract).Image).SetWidth(40).SetHeight(40).
				SetSource(entseal.SourceGenerated).SetCertificateID(recLegal).Save(sys))(t)
			_, err := bind(admin, recLegal, certL, ch.Nonce, softKey(keyL)(t, ch.Digest()))
			wantCode(t, err, errs.Conflict, "一key一章")
			_, err = e.CreateUKeyBindChallenge(admin, recLegal, certL)
			wantCode(t, err, errs.Conflict, "一key一章")
			if c := Must(s.App.DB.Client.Certificate.Get(sys, recLegal))(t); c.Status != certificate.StatusPending {
				t.Fatalf("record %s after the refusal", c.Status)
			}
		})

		t.Run("bind with ECDSA, then RSA", func(t *testing.T) {
			before := len(actions(t, admin, e))
			bound := Must(bindProven(t, admin, e, recContract, certA, signA))(t)
			if bound.Status != certificate.StatusActive || bound.BoundAt == nil || bound.Fingerprint != pki.Fingerprint(certA) || bound.KeyURI != "" {
				t.Fatalf("bound record %+v", bound)
			}
			got := actions(t, admin, e)
			if len(got) != before+1 || got[len(got)-1] != string(audit.CertificateBound) {
				t.Fatalf("trail after binding: %v", got[before:])
			}
			// Bound already: the record, and the certificate for another record.
			_, err := e.CreateUKeyBindChallenge(admin, recContract, certA)
			wantCode(t, err, errs.Conflict, "")
			_, err = e.CreateUKeyBindChallenge(admin, recOfficial, certA)
			wantCode(t, err, errs.Conflict, "已绑定")
			// A challenge asked before the binding, answered after it.
			ch := challenge(admin2, recOfficial, certB)
			Must(bindProven(t, admin, e, recOfficial, certB, signB))(t)
			_, err = bind(admin2, recOfficial, certB, ch.Nonce, signB(t, ch.Digest()))
			wantCode(t, err, errs.Conflict, "")
			if n := len(actions(t, admin, e)); n != before+2 {
				t.Errorf("%d trail events for two bindings", n-before)
			}
		})

		t.Run("through the API", func(t *testing.T) {
			key := Must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
			certK := issue("凭证他家有限公司", CreditCode(8102), key.Public())
			der := base64.StdEncoding.EncodeToString(certK)
			var resp struct {
				CreateUKeyBindChallenge struct{ Nonce, Text, Digest string }
			}
			s.MustDo(otherTok, `mutation($id: ID!, $c: String!) { createUKeyBindChallenge(id: $id, certificate: $c) { nonce text digest } }`,
				map[string]any{"id": otherRec, "c": der}, &resp)
			ch := Must(ukey.ParseChallenge(resp.CreateUKeyBindChallenge.Text))(t)
			if ch.Purpose != ukey.PurposeBindEnterprise || ch.Origin != Must(ukey.OriginOf(s.App.Config.BaseURL))(t) {
				t.Fatalf("challenge %+v", ch)
			}
			const bindMutation = `mutation($in: BindUKeyCertificateInput!) { bindUKeyCertificate(input: $in) { id status fingerprint } }`
			in := map[string]any{"id": otherRec, "certificate": der, "nonce": ch.Nonce,
				"signature": base64.StdEncoding.EncodeToString(softKey(key)(t, ch.Digest()))}
			// Not the administrator of that enterprise.
			if r := s.Do(adminToken, bindMutation, map[string]any{"in": in}); r.Code() != "NOT_FOUND" {
				t.Fatalf("another enterprise's administrator: %s %q", r.Code(), r.Message())
			}
			bad := map[string]any{}
			for k, v := range in {
				bad[k] = v
			}
			bad["signature"] = base64.StdEncoding.EncodeToString(signA(t, ch.Digest()))
			if r := s.Do(otherTok, bindMutation, map[string]any{"in": bad}); r.Code() != "INVALID_ARGUMENT" || !strings.Contains(r.Message(), "签名验证失败") {
				t.Fatalf("another key: %s %q", r.Code(), r.Message())
			}
			// The challenge was used up by the refused answer.
			if r := s.Do(otherTok, bindMutation, map[string]any{"in": in}); r.Code() != "INVALID_ARGUMENT" || !strings.Contains(r.Message(), "已使用") {
				t.Fatalf("reused challenge: %s %q", r.Code(), r.Message())
			}
			s.MustDo(otherTok, `mutation($id: ID!, $c: String!) { createUKeyBindChallenge(id: $id, certificate: $c) { nonce text digest } }`,
				map[string]any{"id": otherRec, "c": der}, &resp)
			ch = Must(ukey.ParseChallenge(resp.CreateUKeyBindChallenge.Text))(t)
			in["nonce"] = ch.Nonce
			in["signature"] = base64.StdEncoding.EncodeToString(softKey(key)(t, ch.Digest()))
			var out struct {
				BindUKeyCertificate struct{ ID, Status, Fingerprint string }
			}
			s.MustDo(otherTok, bindMutation, map[string]any{"in": in}, &out)
			if out.BindUKeyCertificate.Status != "active" || out.BindUKeyCertificate.Fingerprint != pki.Fingerprint(certK) {
				t.Fatalf("bound through the API: %+v", out)
			}
		})
	})
}
