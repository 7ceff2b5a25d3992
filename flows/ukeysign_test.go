package flows_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"signet/audit"
	"signet/certs"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/certificate"
	"signet/ent/enterprise"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/ent/pendingsignature"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/enterprises"
	"signet/enterprises/enterprisestest"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/keystore"
	"signet/signingcore/pki"
	"signet/ukey"
	"signet/ukey/helper"
	"signet/ukey/ukeytest"
	"signet/viewer"
)

// anySeals lets a user apply their own personal seals and any enterprise
// seal: grants and roles are enterprises' rules (tested there and end to
// end); these tests are about where the key is.
type anySeals struct {
	db *ent.Client
	// withdrawn, when set, makes the commit's check of the seals refuse
	// them all, as for a grant revoked while the signer was at the token.
	withdrawn *atomic.Bool
}

func (a anySeals) UsableSeal(ctx context.Context, userID, sealID int, _ enterprises.Scope) (*ent.Seal, error) {
	sl, err := a.db.Seal.Get(viewer.System(ctx), sealID)
	if err != nil || (sl.EnterpriseID == nil && (sl.UserID == nil || *sl.UserID != userID)) {
		return nil, errs.New(errs.NotFound, "印章不存在")
	}
	return sl, nil
}

// RecheckSeals finds every seal still usable, as UsableSeal does, unless
// withdrawn.
func (a anySeals) RecheckSeals(_ context.Context, _ *ent.Tx, _ time.Time, checks []enterprises.SealCheck) ([]error, error) {
	out := make([]error, len(checks))
	if a.withdrawn != nil && a.withdrawn.Load() {
		for i := range out {
			out[i] = errs.New(errs.Forbidden, "您没有该印章的有效授权，请联系企业管理员授权")
		}
	}
	return out, nil
}

// ukeyEnv is the signing env with the platform CA wired in (UKey
// certificates are checked against it) and two stand-in UKeys: A (ECDSA
// P-256) and B (RSA-2048), both SoftHSM tokens whose keys pkcs11-tool made,
// visible through one SoftHSM configuration as two tokens plugged in.
type ukeyEnv struct {
	*signEnv
	certs *certs.Service
	a, b  *ukeytest.Token
	// withdrawn: anySeals' switch.
	withdrawn *atomic.Bool
}

func setupUKey(t *testing.T, b dbtest.Backend) *ukeyEnv {
	t.Helper()
	se := setupSigning(t, b)
	withdrawn := new(atomic.Bool)
	se.rebuild(t, func(c *flows.Config) { c.CA = se.ts.CA; c.Seals = anySeals{db: se.db, withdrawn: withdrawn} })
	cs, err := certs.New(certs.Config{DB: se.db, Keys: se.ts.Keys, CA: se.ts.CA, PseudonymKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	e := &ukeyEnv{signEnv: se, certs: cs, withdrawn: withdrawn}
	e.a = ukeytest.New(t, ukeytest.ECP256)
	e.b, err = ukeytest.Create(t.TempDir(), ukeytest.RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	// Plug B in next to A: its token directory joins A's.
	entries, err := os.ReadDir(e.b.TokenDir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("token B: %v", err)
	}
	for _, x := range entries {
		if err := os.Rename(filepath.Join(e.b.TokenDir, x.Name()), filepath.Join(e.a.TokenDir, x.Name())); err != nil {
			t.Fatal(err)
		}
	}
	e.b.Conf, e.b.TokenDir = e.a.Conf, e.a.TokenDir
	return e
}

// signDigest signs a digest on a token, as the helper does (PKCS#11, raw
// ECDSA converted to DER, RSA PKCS#1 v1.5 with the DigestInfo).
func signDigest(t *testing.T, tok *ukeytest.Token, digest []byte) []byte {
	t.Helper()
	uri := "pkcs11:token=" + tok.Label + ";id=%" + strings.ToUpper(hex.EncodeToString(tok.KeyID[:1])) + "%" + strings.ToUpper(hex.EncodeToString(tok.KeyID[1:]))
	sig, err := keystore.SignDigest(context.Background(), tok.Module, uri, keystore.Secret(tok.PIN), digest, crypto.SHA256)
	if err != nil {
		t.Fatalf("sign on %s: %v", tok.Label, err)
	}
	return sig
}

// sign answers every digest of a step with tok's key.
func signStep(t *testing.T, tok *ukeytest.Token, st *flows.UKeyStep) []flows.UKeySignature {
	t.Helper()
	var out []flows.UKeySignature
	for _, d := range st.Digests {
		out = append(out, flows.UKeySignature{DocumentID: d.DocumentID, Signature: signDigest(t, tok, d.Digest)})
	}
	return out
}

// personalUKey certifies bob's identity on tok's key and binds it to his
// account (the row accounts.BindUKey writes after its checks).
func (e *ukeyEnv) personalUKey(t *testing.T, tok *ukeytest.Token) string {
	t.Helper()
	ctx := context.Background()
	sys := viewer.System(ctx)
	hosted, err := e.db.Certificate.Query().Where(certificate.UserID(e.users["bob"].UserID)).Only(sys)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := e.ts.CA.IssuePerson(ctx, pki.PersonRequest{Name: "王小明", SubjectID: hosted.SubjectID, Key: pki.SubjectKey{PublicKey: tok.MustPublicKey(t)}})
	if err != nil {
		t.Fatal(err)
	}
	tok.MustWriteCertificate(t, iss.DER())
	fp := ukey.Fingerprint(iss.DER())
	if _, err := e.db.UKeyBinding.Create().SetUserID(e.users["bob"].UserID).SetFingerprint(fp).SetSerial(iss.Serial).
		SetSubject(iss.Certificate.Subject.String()).SetDer(iss.DER()).SetNotAfter(iss.Certificate.NotAfter).SetBoundAt(e.now).Save(sys); err != nil {
		t.Fatal(err)
	}
	return fp
}

// enterprise makes a certified enterprise under UKey custody and its seals:
// for 一key一章 one custody record per seal, each bound to the certificate
// of its own token (toks[i]); for 一key多章 one record, bound to toks[0]'s
// certificate, shared by every seal. It returns the seal IDs and the bound
// certificates' fingerprints per seal.
func (e *ukeyEnv) enterprise(t *testing.T, n int, name string, typ certificate.UkeyType, toks ...*ukeytest.Token) (seals []int, fps []string) {
	t.Helper()
	ctx := context.Background()
	sys := viewer.System(ctx)
	code := enterprisestest.CreditCode(n)
	en, err := e.db.Enterprise.Create().SetName(name).SetCreditCode(code).SetAddress("北京市海淀区").SetLegalRepName("王小明").
		SetLegalRepIDNumber("11010519491231002X").SetLegalRepIDMasked("1****************X").
		SetCustody(enterprise.CustodyUkey).SetUkeyType(enterprise.UkeyType(typ)).SetStatus(enterprise.StatusCertified).
		SetCertifierID(e.users["bob"].UserID).Save(sys)
	if err != nil {
		t.Fatal(err)
	}
	base, err := e.db.Seal.Get(sys, e.seals["bob"])
	if err != nil {
		t.Fatal(err)
	}
	bind := func(tok *ukeytest.Token) *ent.Certificate {
		rec, err := e.certs.RecordUKey(ctx, en.ID, name, code, typ)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := e.ts.CA.IssueEnterprise(ctx, pki.EnterpriseRequest{Name: name, CreditCode: code, Key: pki.SubjectKey{PublicKey: tok.MustPublicKey(t)}})
		if err != nil {
			t.Fatal(err)
		}
		tok.MustWriteCertificate(t, iss.DER())
		// PEM, as IssueUKey hands it out (certs.parseCertificate trims
		// whitespace, which corrupts a DER ending in a space-like byte).
		c, err := e.certs.BindUKey(ctx, rec.ID, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.DER()}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var shared *ent.Certificate
	for i, kind := range []entseal.Kind{entseal.KindOfficial, entseal.KindContract} {
		var c *ent.Certificate
		if typ == certificate.UkeyTypeOneKeyManySeals {
			if shared == nil {
				shared = bind(toks[0])
			}
			c = shared
		} else {
			c = bind(toks[i])
		}
		sl, err := e.db.Seal.Create().SetEnterpriseID(en.ID).SetKind(kind).SetName(name + string(kind)).SetImage(base.Image).
			SetWidth(base.Width).SetHeight(base.Height).SetSource(entseal.SourceGenerated).SetCertificateID(c.ID).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		seals, fps = append(seals, sl.ID), append(fps, ukey.Fingerprint(c.Der)) // as the helper names it
	}
	return seals, fps
}

// ukeyFlowSpec is a flow of alice's with bob (a person, or signing for an
// enterprise) and carol.
type ukeyFlowSpec struct {
	name       string
	enterprise string // bob signs for this enterprise
	parallel   bool
	bobFields  []signfield.Kind // on page 2, one after another
	carolFirst bool
}

func (e *ukeyEnv) ukeyFlow(t *testing.T, sp ukeyFlowSpec) (*ent.Flow, *ent.FlowDocument) {
	t.Helper()
	ctx := e.as("alice")
	f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: sp.name, Ordered: !sp.parallel})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := e.svc.AddDocument(ctx, f.ID, "合同.pdf", bytes.NewReader(testpdf.Make(2)))
	if err != nil {
		t.Fatal(err)
	}
	bob := flows.ParticipantInput{Key: "b", Name: "王小明", Phone: "13800000002", Order: 1}
	if sp.enterprise != "" {
		bob.Kind, bob.EnterpriseName = participant.KindEnterprise, sp.enterprise
	}
	carol := flows.ParticipantInput{Key: "c", Name: "李四", Phone: "13800000003", Order: 2}
	if sp.carolFirst {
		bob.Order, carol.Order = 2, 1
	}
	in := flows.DraftInput{Name: sp.name, Ordered: !sp.parallel, Participants: []flows.ParticipantInput{bob, carol},
		Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "c", Kind: signfield.KindPersonalSeal, Page: 1, X: 300, Y: 100, Width: 100, Height: 100}}}
	for i, k := range sp.bobFields {
		in.Fields = append(in.Fields, flows.FieldInput{DocumentID: doc.ID, ParticipantKey: "b", Kind: k, Page: 2,
			X: 60 + float64(i)*150, Y: 100, Width: 120, Height: 120})
	}
	if _, err := e.svc.UpdateDraft(ctx, f.ID, in); err != nil {
		t.Fatal(err)
	}
	if f, err = e.svc.Send(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	return f, doc
}

// prepare sends bob's intent code and prepares his UKey signature.
func (e *ukeyEnv) prepare(t *testing.T, in flows.UKeySignInput) *flows.UKeyStep {
	t.Helper()
	in.Code = e.code(t, in.SignInput)
	st, err := e.svc.PrepareUKeySign(e.as("bob"), in)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	return st
}

// code sends bob a fresh intent code (a minute after the last: the SMS
// rate limit) and returns it.
func (e *ukeyEnv) code(t *testing.T, in flows.SignInput) string {
	t.Helper()
	e.now = e.now.Add(61 * time.Second)
	return e.intentCode(t, "bob", in)
}

func (e *ukeyEnv) participantStatus(t *testing.T, flowID int, who string) participant.Status {
	t.Helper()
	p, err := e.db.Participant.Query().Where(participant.FlowID(flowID), participant.Phone(e.users[who].Phone)).Only(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return p.Status
}

// TestUKeySignPersonal: bob signs with his bound personal UKey; two fields on
// one document take two rounds (each signature covers the one before); the
// PDF verifies with signingcore/verify and pdfsig; and the refusals leave
// the flow signable.
func TestUKeySignPersonal(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupUKey(t, b)
		fpA := e.personalUKey(t, e.a)
		f, doc := e.ukeyFlow(t, ukeyFlowSpec{name: "租赁合同", bobFields: []signfield.Kind{signfield.KindPersonalSeal, signfield.KindHandwriting}})
		in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}, UKeyCertificate: fpA}

		t.Run("a UKey that is not bound to the signer is refused before the code is used", func(t *testing.T) {
			bad := in
			bad.UKeyCertificate = strings.Repeat("ab", 32)
			bad.Code = e.code(t, in.SignInput)
			_, err := e.svc.PrepareUKeySign(e.as("bob"), bad)
			wantCode(t, err, errs.Invalid, "未找到您已绑定的该UKey证书")
		})

		st := e.prepare(t, in)
		if st.Done() || st.PendingID == 0 || st.Round != 1 || len(st.Digests) != 1 || st.ContractName != "租赁合同" || len(st.Fingerprint) != 8 {
			t.Fatalf("round 1: %+v", st)
		}
		if d := st.Digests[0]; d.Certificate != fpA || d.DocumentID != doc.ID || len(d.Digest) != 32 || d.SealName == "" {
			t.Fatalf("digest %+v", d)
		}
		if text, _ := e.lastIntent(t, "13800000002"); !strings.Contains(text, st.Fingerprint) {
			t.Fatalf("the helper's fingerprint %s is not the SMS's: %q", st.Fingerprint, text)
		}

		t.Run("refusals", func(t *testing.T) {
			// Someone else's pending signature does not exist for them.
			_, err := e.svc.CompleteUKeySign(e.as("carol"), st.PendingID, signStep(t, e.a, st))
			wantCode(t, err, errs.NotFound, "签署请求不存在")
			// A signature by another key (token B) is not bob's.
			_, err = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, signStep(t, e.b, st))
			wantCode(t, err, errs.Invalid, "签名无效")
			// Missing and unasked-for signatures.
			_, err = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, nil)
			wantCode(t, err, errs.Invalid, "缺少")
			extra := append(signStep(t, e.a, st), flows.UKeySignature{DocumentID: doc.ID + 1000, Signature: []byte{1}})
			_, err = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, extra)
			wantCode(t, err, errs.Invalid, "不对应")
			if got := revision(t, e.signEnv, doc.ID); got != 0 {
				t.Fatalf("revision after refusals = %d", got)
			}
		})

		t.Run("a pending signature's blobs are referred to", func(t *testing.T) {
			row, err := e.db.PendingSignature.Get(viewer.System(context.Background()), st.PendingID)
			if err != nil {
				t.Fatal(err)
			}
			var state struct {
				Docs []struct{ Base, Prepared string }
			}
			if err := json.Unmarshal(row.State, &state); err != nil || len(state.Docs) != 1 || state.Docs[0].Prepared == "" {
				t.Fatalf("state %s: %v", row.State, err)
			}
			keys := map[string]bool{}
			if err := e.svc.BlobKeys(context.Background(), func(k string) { keys[k] = true }); err != nil {
				t.Fatal(err)
			}
			d, err := e.db.FlowDocument.Get(viewer.System(context.Background()), doc.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{d.OriginalKey, d.CurrentKey, state.Docs[0].Base, state.Docs[0].Prepared} {
				if !keys[k] {
					t.Errorf("BlobKeys misses %s", k)
				}
			}
		})

		// Round 1 → round 2 → committed.
		st2, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, signStep(t, e.a, st))
		if err != nil {
			t.Fatalf("round 1: %v", err)
		}
		if st2.Done() || st2.PendingID != st.PendingID || st2.Round != 2 || len(st2.Digests) != 1 || bytes.Equal(st2.Digests[0].Digest, st.Digests[0].Digest) {
			t.Fatalf("round 2: %+v", st2)
		}
		if got := revision(t, e.signEnv, doc.ID); got != 0 || e.participantStatus(t, f.ID, "bob") != participant.StatusPending {
			t.Fatalf("nothing is committed before the last round: revision %d", got)
		}
		// The first round's signatures cannot be replayed.
		_, err = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, signStep(t, e.a, st))
		wantCode(t, err, errs.Invalid, "签名无效")

		// Completing twice at once signs once.
		sigs := signStep(t, e.a, st2)
		var wg sync.WaitGroup
		results := make([]error, 3)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, sigs)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range results {
			if err == nil {
				ok++
			} else if !errs.Is(err, errs.Conflict) {
				t.Fatalf("a concurrent completion: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d completions succeeded: %v", ok, results)
		}
		_, err = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, sigs)
		wantCode(t, err, errs.Conflict, "已处理")
		if got := revision(t, e.signEnv, doc.ID); got != 2 {
			t.Fatalf("revision = %d, want 2", got)
		}
		if e.participantStatus(t, f.ID, "bob") != participant.StatusSigned {
			t.Fatal("bob is not signed")
		}
		// Carol (hosted) finishes; both of bob's UKey signatures and hers verify.
		got, err := e.sign(t, "carol", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"]})
		if err != nil || got.Status != flow.StatusCompleted {
			t.Fatalf("carol: %v", err)
		}
		e.checkSignatures(t, doc.ID, 3)
		// The trail names the UKey certificate that signed.
		signed, err := e.db.AuditEvent.Query().Where(auditevent.Chain(audit.FlowChain(f.ID)), auditevent.Action(string(audit.ParticipantSigned))).
			All(viewer.System(context.Background()))
		if err != nil || len(signed) != 2 || !strings.Contains(signed[0].Payload+signed[1].Payload, fpA) {
			t.Fatalf("participant.signed events %v: %+v", err, signed)
		}
	})
}

// TestUKeySignEnterprise (issue 7 point 5): an enterprise seal under UKey
// custody signs on its token. 一key一章: each seal has its own certificate
// and key (A for the 公章, B for the 合同专用章), and one seal's key cannot
// sign for the other; 一key多章: both seals share one certificate and key.
// An enterprise signer's personal field (hosted) is signed on the server in
// the same round trip.
func TestUKeySignEnterprise(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupUKey(t, b)
		one, oneFP := e.enterprise(t, 1, "北京一章科技有限公司", certificate.UkeyTypeOneKeyOneSeal, e.a, e.b)
		many, manyFP := e.enterprise(t, 2, "上海多章贸易有限公司", certificate.UkeyTypeOneKeyManySeals, e.a)
		if oneFP[0] == oneFP[1] || manyFP[0] != manyFP[1] {
			t.Fatalf("certificates: one-key-one-seal %v, one-key-many-seals %v", oneFP, manyFP)
		}

		cases := []struct {
			name       string
			enterprise string
			seal       int
			fp         string
			tok, wrong *ukeytest.Token
		}{
			{"一key一章 公章 on A", "北京一章科技有限公司", one[0], oneFP[0], e.a, e.b},
			{"一key一章 合同专用章 on B", "北京一章科技有限公司", one[1], oneFP[1], e.b, e.a},
			{"一key多章 公章", "上海多章贸易有限公司", many[0], manyFP[0], e.a, e.b},
			{"一key多章 合同专用章", "上海多章贸易有限公司", many[1], manyFP[0], e.a, e.b},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f, doc := e.ukeyFlow(t, ukeyFlowSpec{name: c.name, enterprise: c.enterprise,
					bobFields: []signfield.Kind{signfield.KindPersonalSeal, signfield.KindEnterpriseSeal}})
				in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"], EnterpriseSealID: c.seal}}
				// The hosted path refuses the UKey seal.
				_, err := e.svc.Sign(e.as("bob"), flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"], EnterpriseSealID: c.seal,
					Code: e.code(t, in.SignInput)})
				wantCode(t, err, errs.Conflict, "请使用UKey签署")

				// The page lists the plugged-in token's certificates: a token
				// without the seal's is refused before the code is used, and
				// the same code then prepares with the right token (the
				// helper may write fingerprints as AB:CD:…).
				in.Code = e.code(t, in.SignInput)
				in.TokenCertificates = []string{strings.Repeat("ab", 32)}
				_, err = e.svc.PrepareUKeySign(e.as("bob"), in)
				wantCode(t, err, errs.Invalid, "没有签署所需的证书")
				var colons []string
				for i := 0; i < len(c.fp); i += 2 {
					colons = append(colons, strings.ToUpper(c.fp[i:i+2]))
				}
				in.TokenCertificates = []string{strings.Repeat("ab", 32), strings.Join(colons, ":")}
				st, err := e.svc.PrepareUKeySign(e.as("bob"), in)
				if err != nil {
					t.Fatalf("prepare with the right token: %v", err)
				}
				// The personal (hosted) field came first and is signed on the
				// server; the enterprise seal waits for the token.
				if st.Done() || len(st.Digests) != 1 || st.Digests[0].Certificate != c.fp {
					t.Fatalf("step %+v", st)
				}
				_, err = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, signStep(t, c.wrong, st))
				wantCode(t, err, errs.Invalid, "签名无效")
				done, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, signStep(t, c.tok, st))
				if err != nil || !done.Done() {
					t.Fatalf("complete: %v %+v", err, done)
				}
				if revision(t, e.signEnv, doc.ID) != 2 || e.participantStatus(t, f.ID, "bob") != participant.StatusSigned {
					t.Fatal("bob's two signatures are not committed")
				}
				e.checkSignatures(t, doc.ID, 2)
			})
		}

		t.Run("a grant withdrawn while at the token", func(t *testing.T) {
			// The completion re-reads the seal's status; the grant is
			// checked again by the commit (enterprises.RecheckSeals): its
			// refusal changes nothing, and the same pending signature
			// completes once the seal may be used again.
			f, doc := e.ukeyFlow(t, ukeyFlowSpec{name: "签署中撤销授权", enterprise: "北京一章科技有限公司",
				bobFields: []signfield.Kind{signfield.KindEnterpriseSeal}})
			in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, EnterpriseSealID: one[0]}, TokenCertificates: []string{oneFP[0]}}
			in.Code = e.code(t, in.SignInput)
			st, err := e.svc.PrepareUKeySign(e.as("bob"), in)
			if err != nil || st.Done() || len(st.Digests) != 1 {
				t.Fatalf("prepare: %v %+v", err, st)
			}
			sigs := signStep(t, e.a, st)
			e.withdrawn.Store(true)
			_, err = e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, sigs)
			e.withdrawn.Store(false)
			wantCode(t, err, errs.Forbidden, "授权")
			if revision(t, e.signEnv, doc.ID) != 0 || e.participantStatus(t, f.ID, "bob") != participant.StatusPending {
				t.Fatal("the refused completion changed the flow")
			}
			done, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, sigs)
			if err != nil || !done.Done() {
				t.Fatalf("complete again: %v %+v", err, done)
			}
			if revision(t, e.signEnv, doc.ID) != 1 || e.participantStatus(t, f.ID, "bob") != participant.StatusSigned {
				t.Fatal("bob's signature is not committed")
			}
			e.checkSignatures(t, doc.ID, 1)
		})

		t.Run("a custody record still waiting for its UKey cannot sign", func(t *testing.T) {
			ctx := context.Background()
			en, err := e.db.Enterprise.Query().Where(enterprise.Name("上海多章贸易有限公司")).Only(viewer.System(ctx))
			if err != nil {
				t.Fatal(err)
			}
			rec, err := e.certs.RecordUKey(ctx, en.ID, en.Name, en.CreditCode, certificate.UkeyTypeOneKeyManySeals)
			if err != nil {
				t.Fatal(err)
			}
			base, _ := e.db.Seal.Get(viewer.System(ctx), many[0])
			sl, err := e.db.Seal.Create().SetEnterpriseID(en.ID).SetKind(entseal.KindCustom).SetName("财务章").SetImage(base.Image).
				SetWidth(base.Width).SetHeight(base.Height).SetSource(entseal.SourceGenerated).SetCertificateID(rec.ID).Save(viewer.System(ctx))
			if err != nil {
				t.Fatal(err)
			}
			f, _ := e.ukeyFlow(t, ukeyFlowSpec{name: "待绑定", enterprise: en.Name, bobFields: []signfield.Kind{signfield.KindEnterpriseSeal}})
			in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, EnterpriseSealID: sl.ID}}
			in.Code = e.code(t, in.SignInput)
			_, err = e.svc.PrepareUKeySign(e.as("bob"), in)
			wantCode(t, err, errs.Conflict, "尚未绑定证书")
		})
	})
}

// TestUKeySignLeavesFlowSignable: an expired, cancelled or outdated pending
// signature changes nothing, and a fresh one then signs.
func TestUKeySignLeavesFlowSignable(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupUKey(t, b)
		fpA := e.personalUKey(t, e.a)
		sys := viewer.System(context.Background())

		t.Run("expired", func(t *testing.T) {
			f, doc := e.ukeyFlow(t, ukeyFlowSpec{name: "过期", bobFields: []signfield.Kind{signfield.KindPersonalSeal}})
			in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}, UKeyCertificate: fpA}
			st := e.prepare(t, in)
			sigs := signStep(t, e.a, st)
			e.now = e.now.Add(flows.UKeySignTTL)
			_, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, sigs)
			wantCode(t, err, errs.Conflict, "已过期")
			if revision(t, e.signEnv, doc.ID) != 0 || e.participantStatus(t, f.ID, "bob") != participant.StatusPending {
				t.Fatal("an expired pending signature changed the flow")
			}
			st2 := e.prepare(t, in)
			if st2.PendingID == st.PendingID {
				t.Fatal("the fresh prepare reused the expired one")
			}
			if _, err := e.svc.CompleteUKeySign(e.as("bob"), st2.PendingID, signStep(t, e.a, st2)); err != nil {
				t.Fatalf("fresh: %v", err)
			}
			e.checkSignatures(t, doc.ID, 1)
		})

		t.Run("cancelled, and replaced by a new prepare", func(t *testing.T) {
			f, doc := e.ukeyFlow(t, ukeyFlowSpec{name: "取消", bobFields: []signfield.Kind{signfield.KindPersonalSeal}})
			in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}, UKeyCertificate: fpA}
			st := e.prepare(t, in)
			wantCode(t, e.svc.CancelUKeySign(e.as("carol"), st.PendingID), errs.NotFound, "签署请求不存在")
			if err := e.svc.CancelUKeySign(e.as("bob"), st.PendingID); err != nil {
				t.Fatal(err)
			}
			wantCode(t, e.svc.CancelUKeySign(e.as("bob"), st.PendingID), errs.Conflict, "已取消或失效")
			_, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, signStep(t, e.a, st))
			wantCode(t, err, errs.Conflict, "已取消或失效")
			// A new prepare replaces a pending one.
			st2 := e.prepare(t, in)
			st3 := e.prepare(t, in)
			if old, _ := e.db.PendingSignature.Get(sys, st2.PendingID); old.Status != pendingsignature.StatusCancelled {
				t.Fatalf("the older pending signature is %s", old.Status)
			}
			_, err = e.svc.CompleteUKeySign(e.as("bob"), st2.PendingID, signStep(t, e.a, st2))
			wantCode(t, err, errs.Conflict, "已取消或失效")
			if revision(t, e.signEnv, doc.ID) != 0 {
				t.Fatal("a cancelled pending signature changed the flow")
			}
			if _, err := e.svc.CompleteUKeySign(e.as("bob"), st3.PendingID, signStep(t, e.a, st3)); err != nil {
				t.Fatal(err)
			}
			e.checkSignatures(t, doc.ID, 1)
		})

		t.Run("another signer moved the revision", func(t *testing.T) {
			f, doc := e.ukeyFlow(t, ukeyFlowSpec{name: "并行", parallel: true, bobFields: []signfield.Kind{signfield.KindPersonalSeal}})
			in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}, UKeyCertificate: fpA}
			st := e.prepare(t, in)
			sigs := signStep(t, e.a, st)
			if _, err := e.sign(t, "carol", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"]}); err != nil {
				t.Fatal(err)
			}
			_, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, sigs)
			wantCode(t, err, errs.Conflict, "合同已被其他签署方更新，请重新签署")
			if row, _ := e.db.PendingSignature.Get(sys, st.PendingID); row.Status != pendingsignature.StatusVoid {
				t.Fatalf("the outdated pending signature is %s", row.Status)
			}
			if revision(t, e.signEnv, doc.ID) != 1 || e.participantStatus(t, f.ID, "bob") != participant.StatusPending {
				t.Fatal("the outdated signature changed the flow")
			}
			// Signable again, on carol's revision.
			st2 := e.prepare(t, in)
			got, err := e.svc.CompleteUKeySign(e.as("bob"), st2.PendingID, signStep(t, e.a, st2))
			if err != nil || got.Flow.Status != flow.StatusCompleted {
				t.Fatalf("after the move: %v", err)
			}
			e.checkSignatures(t, doc.ID, 2)
		})
	})
}

// TestUKeyBatchSign (DOC-4 with a UKey): one code for the batch, one pending
// signature per flow, one confirmation per digest; each flow all or
// nothing; an ineligible flow is reported, not signed.
func TestUKeyBatchSign(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupUKey(t, b)
		one, oneFP := e.enterprise(t, 3, "深圳批量科技有限公司", certificate.UkeyTypeOneKeyOneSeal, e.b, e.a)
		f1, d1 := e.ukeyFlow(t, ukeyFlowSpec{name: "批量一", enterprise: "深圳批量科技有限公司", bobFields: []signfield.Kind{signfield.KindEnterpriseSeal}})
		f2, d2 := e.ukeyFlow(t, ukeyFlowSpec{name: "批量二", enterprise: "深圳批量科技有限公司", bobFields: []signfield.Kind{signfield.KindEnterpriseSeal}})
		f3, _ := e.ukeyFlow(t, ukeyFlowSpec{name: "批量三", enterprise: "深圳批量科技有限公司", carolFirst: true, bobFields: []signfield.Kind{signfield.KindEnterpriseSeal}})
		in := flows.UKeyBatchInput{BatchSignInput: flows.BatchSignInput{FlowIDs: []int{f1.ID, f3.ID, f2.ID}, EnterpriseSealID: one[0]}}

		// The hosted batch still refuses UKey seals.
		res, err := e.svc.SendBatchIntentCode(e.as("bob"), in.BatchSignInput)
		if err != nil || len(res.Eligible()) != 0 {
			t.Fatalf("hosted batch: %v %+v", err, res)
		}
		intent, err := e.svc.SendUKeyBatchIntentCode(e.as("bob"), in)
		if err != nil || len(intent.Eligible()) != 2 {
			t.Fatalf("UKey batch intent: %v %+v", err, intent)
		}
		_, in.Code = e.lastIntent(t, "13800000002")
		e.now = e.now.Add(61 * time.Second)
		// A token without the seal's certificate is refused before the code
		// is used.
		in.TokenCertificates = []string{oneFP[1]}
		_, err = e.svc.PrepareUKeyBatchSign(e.as("bob"), in)
		wantCode(t, err, errs.Invalid, "没有签署所需的证书")
		in.TokenCertificates = []string{oneFP[1], oneFP[0]}
		items, err := e.svc.PrepareUKeyBatchSign(e.as("bob"), in)
		if err != nil || len(items) != 3 {
			t.Fatalf("prepare batch: %v %+v", err, items)
		}
		if items[0].FlowID != f1.ID || items[1].FlowID != f3.ID || items[2].FlowID != f2.ID {
			t.Fatalf("order: %+v", items)
		}
		wantCode(t, items[1].Err, errs.Conflict, "还未轮到您签署")
		for _, i := range []int{0, 2} {
			if items[i].Err != nil || items[i].Step == nil || len(items[i].Step.Digests) != 1 || items[i].Step.Digests[0].Certificate != oneFP[0] {
				t.Fatalf("item %d: %+v %+v", i, items[i], items[i].Step)
			}
		}
		// The code is used up.
		_, err = e.svc.PrepareUKeyBatchSign(e.as("bob"), in)
		wantCode(t, err, errs.Invalid, "")

		// Flow 2 gets a signature by the wrong key: it alone fails.
		done, err := e.svc.CompleteUKeyBatchSign(e.as("bob"), []flows.UKeyCompletion{
			{PendingID: items[0].Step.PendingID, Signatures: signStep(t, e.b, items[0].Step)},
			{PendingID: items[2].Step.PendingID, Signatures: signStep(t, e.a, items[2].Step)}, // the 合同专用章's key
		})
		if err != nil || len(done) != 2 {
			t.Fatalf("complete batch: %v", err)
		}
		if done[0].Err != nil || !done[0].Step.Done() || done[0].FlowID != f1.ID {
			t.Fatalf("flow 1: %+v", done[0])
		}
		if done[1].FlowID != f2.ID {
			t.Fatalf("flow 2: %+v", done[1])
		}
		wantCode(t, done[1].Err, errs.Invalid, "签名无效")
		if revision(t, e.signEnv, d2.ID) != 0 {
			t.Fatal("the failed flow changed")
		}
		e.checkSignatures(t, d1.ID, 1)
		// Its pending signature is still good for the right key.
		done, err = e.svc.CompleteUKeyBatchSign(e.as("bob"), []flows.UKeyCompletion{
			{PendingID: items[2].Step.PendingID, Signatures: signStep(t, e.b, items[2].Step)}})
		if err != nil || done[0].Err != nil {
			t.Fatalf("flow 2 again: %v %+v", err, done)
		}
		e.checkSignatures(t, d2.ID, 1)
	})
}

// helperPage is the signing page's paired connection to a running UKey
// helper (ukey/helper, as signet-ukey --yes --pin-file runs it).
type helperPage struct {
	t  *testing.T
	ws *websocket.Conn
	n  int
}

func startUKeyHelper(t *testing.T, tok *ukeytest.Token, pin string) (*helperPage, *syncBuffer) {
	t.Helper()
	const origin = "https://sign.example.com"
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	inR, inW := io.Pipe()
	t.Cleanup(func() { inW.Close() })
	h, err := helper.New(helper.Config{Origins: []string{origin}, Token: helper.PKCS11Token{Module: tok.Module},
		Console: helper.NewTerminalConsole(inR, out, helper.ConsoleOptions{Yes: true, PINFile: pinFile})})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http:", "ws:", 1)+ukey.Path,
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	p := &helperPage{t: t, ws: ws}
	p.do(ukey.Request{Type: ukey.TypePair})
	m := regexp.MustCompile(`配对码：(\d{3}) (\d{3})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no pairing code:\n%s", out.String())
	}
	if r := p.do(ukey.Request{Type: ukey.TypePairConfirm, Code: m[1] + m[2]}); r.Type != ukey.TypePaired {
		t.Fatalf("pairing: %+v", r)
	}
	return p, out
}

func (p *helperPage) do(req ukey.Request) ukey.Reply {
	p.t.Helper()
	p.n++
	req.ID = strconv.Itoa(p.n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, p.ws, req); err != nil {
		p.t.Fatal(err)
	}
	var r ukey.Reply
	if err := wsjson.Read(ctx, p.ws, &r); err != nil {
		p.t.Fatal(err)
	}
	return r
}

// signStep forwards a step's digests to the helper as the page does and
// returns the signatures, or the helper's error.
func (p *helperPage) signStep(st *flows.UKeyStep) ([]flows.UKeySignature, *ukey.Error) {
	p.t.Helper()
	var out []flows.UKeySignature
	for _, d := range st.Digests {
		r := p.do(ukey.Request{Type: ukey.TypeSignDigest, Certificate: d.Certificate, Hash: ukey.HashSHA256,
			Digest: base64.StdEncoding.EncodeToString(d.Digest), ContractName: st.ContractName, Fingerprint: st.Fingerprint})
		if r.Type != ukey.TypeSignature {
			return nil, r.Error
		}
		sig, err := base64.StdEncoding.DecodeString(r.Signature)
		if err != nil {
			p.t.Fatal(err)
		}
		out = append(out, flows.UKeySignature{DocumentID: d.DocumentID, Signature: sig})
	}
	return out, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUKeySignThroughHelper: an enterprise 公章 on a UKey signs a flow with
// the running helper between prepare and complete (the helper shows the
// contract and fingerprint); a wrong PIN and a removed token fail at the
// helper and leave the flow signable.
func TestUKeySignThroughHelper(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupUKey(t, b)
		seals, fps := e.enterprise(t, 4, "杭州助手科技有限公司", certificate.UkeyTypeOneKeyManySeals, e.a)
		f, doc := e.ukeyFlow(t, ukeyFlowSpec{name: "技术服务合同", enterprise: "杭州助手科技有限公司", bobFields: []signfield.Kind{signfield.KindEnterpriseSeal}})
		in := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f.ID, EnterpriseSealID: seals[0]}}

		t.Run("wrong PIN", func(t *testing.T) {
			p, _ := startUKeyHelper(t, e.a, "000000"+e.a.PIN)
			st := e.prepare(t, in)
			_, herr := p.signStep(st)
			if herr == nil || herr.Code != ukey.ErrWrongPIN {
				t.Fatalf("helper: %+v", herr)
			}
			if err := e.svc.CancelUKeySign(e.as("bob"), st.PendingID); err != nil {
				t.Fatal(err)
			}
			if revision(t, e.signEnv, doc.ID) != 0 || e.participantStatus(t, f.ID, "bob") != participant.StatusPending {
				t.Fatal("a wrong PIN changed the flow")
			}
		})

		p, out := startUKeyHelper(t, e.a, e.a.PIN)
		if r := p.do(ukey.Request{Type: ukey.TypeListCertificates}); len(r.Certificates) != 1 || r.Certificates[0].Fingerprint != fps[0] {
			t.Fatalf("the helper lists %+v", r.Certificates)
		}
		st := e.prepare(t, in)
		sigs, herr := p.signStep(st)
		if herr != nil {
			t.Fatalf("helper: %+v", herr)
		}
		if !strings.Contains(out.String(), "技术服务合同") || !strings.Contains(out.String(), st.Fingerprint) {
			t.Fatalf("the helper did not show the contract and fingerprint:\n%s", out.String())
		}
		done, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, sigs)
		if err != nil || !done.Done() {
			t.Fatalf("complete: %v", err)
		}
		e.checkSignatures(t, doc.ID, 1)

		t.Run("token removed", func(t *testing.T) {
			f2, doc2 := e.ukeyFlow(t, ukeyFlowSpec{name: "拔出", enterprise: "杭州助手科技有限公司", bobFields: []signfield.Kind{signfield.KindEnterpriseSeal}})
			in2 := flows.UKeySignInput{SignInput: flows.SignInput{FlowID: f2.ID, EnterpriseSealID: seals[1]}}
			st := e.prepare(t, in2)
			if err := e.a.Remove(); err != nil {
				t.Fatal(err)
			}
			_, herr := p.signStep(st)
			if herr == nil || herr.Code != ukey.ErrTokenAbsent {
				t.Fatalf("helper: %+v", herr)
			}
			_, err := e.svc.CompleteUKeySign(e.as("bob"), st.PendingID, nil)
			wantCode(t, err, errs.Invalid, "缺少")
			if revision(t, e.signEnv, doc2.ID) != 0 || e.participantStatus(t, f2.ID, "bob") != participant.StatusPending {
				t.Fatal("a removed token changed the flow")
			}
		})
	})
}
