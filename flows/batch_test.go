package flows_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"signet/accounts"
	"signet/certs"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/flow"
	"signet/ent/participant"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/enterprises"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/pades"
	"signet/signingcore/verify"
	"signet/viewer"
)

// generalOnlySeals is ownerSeals with a grant limited to the general scene:
// an HR contract is refused the way enterprises.CanUseSeal refuses a seal
// whose grant does not cover the scene.
type generalOnlySeals struct{ ownerSeals }

func (g generalOnlySeals) UsableSeal(ctx context.Context, userID, sealID int, sc enterprises.Scope) (*ent.Seal, error) {
	if sc.Scene == string(flow.SceneHr) {
		return nil, errs.New(errs.Forbidden, "您没有该印章的有效授权，请联系企业管理员授权")
	}
	return g.ownerSeals.UsableSeal(ctx, userID, sealID, sc)
}

// rebuild replaces the signing env's service by one built with the same
// parts and edit applied to its config.
func (e *signEnv) rebuild(t testing.TB, edit func(*flows.Config)) {
	t.Helper()
	cs, err := certs.New(certs.Config{DB: e.db, Keys: e.ts.Keys, CA: e.ts.CA, PseudonymKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := accounts.New(accounts.Config{DB: e.db, SMS: smsOutbox(e.env), Hasher: accounts.NewPasswordHasher(8*1024, 1, 1),
		Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	cfg := flows.Config{DB: e.database, Jobs: e.jobs, Blobs: e.blobs, Accounts: acc,
		Certs: cs, Seals: ownerSeals{e.database}, Signer: pades.NewSigner(pades.Config{}), TSA: e.ts.TSA,
		Now: func() time.Time { return e.now }}
	if edit != nil {
		edit(&cfg)
	}
	if e.svc, err = flows.New(cfg); err != nil {
		t.Fatal(err)
	}
}

// batchFlow describes a flow of alice's for batch tests.
type batchFlow struct {
	name      string
	scene     flow.Scene
	passcode  string
	bobSecond bool // carol signs first
	noField   bool // bob places his own seal
	parallel  bool
}

// sendFlow drafts and sends a flow of alice's with bob and carol signing.
func (e *signEnv) sendFlow(t testing.TB, bf batchFlow) (*ent.Flow, *ent.FlowDocument) {
	t.Helper()
	ctx := e.as("alice")
	f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: bf.name, Ordered: !bf.parallel})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := e.svc.AddDocument(ctx, f.ID, "合同.pdf", bytes.NewReader(testpdf.Make(2)))
	if err != nil {
		t.Fatal(err)
	}
	bobOrder, carolOrder := 1, 2
	if bf.bobSecond {
		bobOrder, carolOrder = 2, 1
	}
	in := flows.DraftInput{Name: bf.name, Ordered: !bf.parallel, Scene: bf.scene,
		Participants: []flows.ParticipantInput{
			{Key: "b", Name: "王小明", Phone: "13800000002", Order: bobOrder},
			{Key: "c", Name: "李四", Phone: "13800000003", Order: carolOrder},
		},
		Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "c", Kind: signfield.KindPersonalSeal, Page: 1, X: 300, Y: 100, Width: 100, Height: 100}},
	}
	if !bf.noField {
		in.Fields = append(in.Fields, flows.FieldInput{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 2, X: 100, Y: 100, Width: 120, Height: 120})
	}
	if bf.passcode != "" {
		in.Passcode = &bf.passcode
	}
	if _, err := e.svc.UpdateDraft(ctx, f.ID, in); err != nil {
		t.Fatal(err)
	}
	if f, err = e.svc.Send(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	return f, doc
}

// lastIntent returns the newest intent SMS to phone.
func (e *signEnv) lastIntent(t testing.TB, phone string) (text, code string) {
	t.Helper()
	msgs, _ := e.outbox.List(context.Background(), phone, 20)
	for _, m := range msgs {
		if m.Template == "sign_intent" {
			return m.Text, m.Params["code"]
		}
	}
	t.Fatalf("no intent SMS to %s", phone)
	return "", ""
}

func intentCount(e *signEnv, phone string) int {
	msgs, _ := e.outbox.List(context.Background(), phone, 100)
	n := 0
	for _, m := range msgs {
		if m.Template == "sign_intent" {
			n++
		}
	}
	return n
}

func revision(t testing.TB, e *signEnv, docID int) int {
	t.Helper()
	d, err := e.db.FlowDocument.Get(viewer.System(context.Background()), docID)
	if err != nil {
		t.Fatal(err)
	}
	return d.Revision
}

func TestBatchSign(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		e.rebuild(t, func(c *flows.Config) { c.Seals = generalOnlySeals{ownerSeals{e.database}} })
		bob := e.as("bob")

		var okIDs []int
		var okDocs []*ent.FlowDocument
		for i := range 3 {
			f, d := e.sendFlow(t, batchFlow{name: fmt.Sprintf("采购合同%d", i+1)})
			okIDs = append(okIDs, f.ID)
			okDocs = append(okDocs, d)
		}
		self, _ := e.sendFlow(t, batchFlow{name: "需自行盖章", noField: true})
		pass, _ := e.sendFlow(t, batchFlow{name: "有口令", passcode: "8888"})
		hr, _ := e.sendFlow(t, batchFlow{name: "劳动合同", scene: flow.SceneHr})
		later, _ := e.sendFlow(t, batchFlow{name: "李四先签", bobSecond: true})
		revoked, _ := e.sendFlow(t, batchFlow{name: "已撤销", noField: false})
		if _, err := e.svc.Revoke(e.as("alice"), revoked.ID, "条款有误"); err != nil {
			t.Fatal(err)
		}
		// A flow bob is no party to (mallory's own).
		mctx := e.as("mallory")
		mf, err := e.svc.CreateDraft(mctx, flows.DraftInput{Name: "别人的合同"})
		if err != nil {
			t.Fatal(err)
		}

		all := append(append([]int{}, okIDs...), self.ID, pass.ID, hr.ID, later.ID, revoked.ID, mf.ID, okIDs[0])
		in := flows.BatchSignInput{FlowIDs: all, PersonalSealID: e.seals["bob"]}
		wantRefused := map[int]struct {
			code errs.Code
			msg  string
		}{
			self.ID:    {errs.Invalid, "需要自行放置印章的合同不能批量签署"},
			pass.ID:    {errs.Forbidden, "请先输入签署口令"},
			hr.ID:      {errs.Forbidden, "您没有该印章的有效授权"},
			later.ID:   {errs.Conflict, "还未轮到您签署"},
			revoked.ID: {errs.Conflict, "已撤销"},
			mf.ID:      {errs.NotFound, "合同不存在"},
		}
		checkRefusals := func(what string, items []flows.BatchItem) {
			t.Helper()
			if len(items) != len(all)-1 { // the duplicate is dropped
				t.Fatalf("%s: %d items for %d distinct flows", what, len(items), len(all)-1)
			}
			for _, it := range items {
				want, refused := wantRefused[it.FlowID]
				if !refused {
					continue
				}
				if errs.CodeOf(it.Err) != want.code || !strings.Contains(errs.MessageOf(it.Err), want.msg) {
					t.Errorf("%s: flow %d: %v (%q), want %s %q", what, it.FlowID, it.Err, errs.MessageOf(it.Err), want.code, want.msg)
				}
				if it.Flow != nil {
					t.Errorf("%s: refused flow %d came back signed", what, it.FlowID)
				}
			}
		}

		// Refusals of the whole request.
		_, err = e.svc.SendBatchIntentCode(context.Background(), in)
		wantCode(t, err, errs.Unauthenticated, "请先登录")
		_, err = e.svc.SendBatchIntentCode(bob, flows.BatchSignInput{PersonalSealID: e.seals["bob"]})
		wantCode(t, err, errs.Invalid, "请选择要签署的合同")
		many := make([]int, flows.MaxBatch+1)
		for i := range many {
			many[i] = i + 1
		}
		_, err = e.svc.SendBatchIntentCode(bob, flows.BatchSignInput{FlowIDs: many, PersonalSealID: e.seals["bob"]})
		wantCode(t, err, errs.Invalid, "一次最多批量签署100份合同")

		// Someone else's seal: every flow refused, no SMS.
		before := intentCount(e, "13800000002")
		res, err := e.svc.SendBatchIntentCode(bob, flows.BatchSignInput{FlowIDs: okIDs, PersonalSealID: e.seals["carol"]})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Eligible()) != 0 || res.Sent.Phone != "" || intentCount(e, "13800000002") != before {
			t.Fatalf("batch with carol's seal: eligible %v, sent %+v", res.Eligible(), res.Sent)
		}
		for _, it := range res.Items {
			wantCode(t, it.Err, errs.NotFound, "印章不存在")
		}

		// One code for the three eligible flows; the rest refused with reasons.
		res, err = e.svc.SendBatchIntentCode(bob, in)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Eligible(); fmt.Sprint(got) != fmt.Sprint(okIDs) {
			t.Fatalf("eligible = %v, want %v", got, okIDs)
		}
		checkRefusals("send", res.Items)
		text, code := e.lastIntent(t, "13800000002")
		if !strings.Contains(text, "《采购合同1等3份合同》") || !strings.Contains(text, res.Fingerprint) {
			t.Fatalf("batch intent SMS = %q (fingerprint %s)", text, res.Fingerprint)
		}
		e.now = e.now.Add(61 * time.Second)

		// The code is bound to the set: a subset, another seal or a wrong code
		// sign nothing.
		sub := in
		sub.FlowIDs, sub.Code = okIDs[:2], code
		_, err = e.svc.BatchSign(bob, sub)
		wantCode(t, err, errs.Invalid, "验证码无效")
		wrong := in
		wrong.Code = "000000"
		if code == wrong.Code {
			wrong.Code = "111111"
		}
		_, err = e.svc.BatchSign(bob, wrong)
		wantCode(t, err, errs.Invalid, "验证码错误")
		_, err = e.svc.BatchSign(e.as("carol"), flows.BatchSignInput{FlowIDs: okIDs, PersonalSealID: e.seals["carol"], Code: code})
		if err == nil {
			t.Fatal("carol used bob's batch code")
		}
		for _, d := range okDocs {
			if r := revision(t, e, d.ID); r != 0 {
				t.Fatalf("document %d at revision %d after refused batches", d.ID, r)
			}
		}

		// The batch signs the three, refuses the rest with the same reasons.
		in.Code = code
		items, err := e.svc.BatchSign(bob, in)
		if err != nil {
			t.Fatal(err)
		}
		checkRefusals("sign", items)
		signed := 0
		for _, it := range items {
			if it.Err == nil {
				signed++
				if it.Flow == nil || it.Flow.Status != flow.StatusSigning {
					t.Fatalf("signed flow %d: %+v", it.FlowID, it.Flow)
				}
			}
		}
		if signed != 3 {
			t.Fatalf("signed %d flows, want 3", signed)
		}
		root, _ := e.ts.CA.RootCertificate()
		for _, d := range okDocs {
			_, pdf, err := e.svc.DocumentPDF(e.as("alice"), d.ID)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := verify.Verify(pdf, verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: e.ts.CA}})
			if err != nil || rep.Verdict != verify.VerdictValid || len(rep.Signatures) != 1 {
				t.Fatalf("document %d: %v %+v", d.ID, err, rep)
			}
		}
		if got := e.list(t, "bob", flows.ListTodo, flows.Filter{}); fmt.Sprint(got) != fmt.Sprint([]int{self.ID, pass.ID, hr.ID}) {
			t.Fatalf("bob's 待办 after the batch = %v", got) // later is carol's turn first
		}
		if got := e.list(t, "carol", flows.ListTodo, flows.Filter{}); len(got) != 4 { // the three and later
			t.Fatalf("carol's 待办 after bob's batch = %v", got)
		}

		// The same request again signs nothing twice.
		_, err = e.svc.BatchSign(bob, in)
		wantCode(t, err, errs.Conflict, "所选合同均不能批量签署")
		for _, d := range okDocs {
			if r := revision(t, e, d.ID); r != 1 {
				t.Fatalf("document %d at revision %d after a repeated batch", d.ID, r)
			}
		}
		n, _ := e.db.Participant.Query().Where(participant.StatusEQ(participant.StatusSigned)).Count(viewer.System(context.Background()))
		if n != 3 {
			t.Fatalf("%d signed parties, want 3", n)
		}
	})
}

// TestBatchSignUKey: a seal whose certificate lives on a UKey cannot sign in
// a batch (the key never reaches the server).
func TestBatchSignUKey(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		sys := viewer.System(context.Background())
		c, err := e.db.Certificate.Create().SetKind(certificate.KindPerson).SetUserID(e.users["bob"].UserID).
			SetCustody(certificate.CustodyUkey).SetSubject("王小明").SetSubjectID("p-bob").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		base, err := e.db.Seal.Get(sys, e.seals["bob"])
		if err != nil {
			t.Fatal(err)
		}
		uk, err := e.db.Seal.Create().SetUserID(e.users["bob"].UserID).SetKind(entseal.KindPersonal).SetName("王小明UKey").
			SetImage(base.Image).SetWidth(base.Width).SetHeight(base.Height).SetSource(entseal.SourceGenerated).
			SetCertificateID(c.ID).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		f1, _ := e.sendFlow(t, batchFlow{name: "合同一"})
		f2, _ := e.sendFlow(t, batchFlow{name: "合同二"})
		res, err := e.svc.SendBatchIntentCode(e.as("bob"), flows.BatchSignInput{FlowIDs: []int{f1.ID, f2.ID}, PersonalSealID: uk.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 2 || res.Sent.Phone != "" || intentCount(e, "13800000002") != 0 {
			t.Fatalf("UKey batch: %+v", res)
		}
		for _, it := range res.Items {
			wantCode(t, it.Err, errs.Conflict, "证书为UKey证书不能批量签署")
		}
		_, err = e.svc.BatchSign(e.as("bob"), flows.BatchSignInput{FlowIDs: []int{f1.ID, f2.ID}, PersonalSealID: uk.ID, Code: "123456"})
		wantCode(t, err, errs.Conflict, "所选合同均不能批量签署")
		// The hosted seal signs them.
		res, err = e.svc.SendBatchIntentCode(e.as("bob"), flows.BatchSignInput{FlowIDs: []int{f1.ID, f2.ID}, PersonalSealID: e.seals["bob"]})
		if err != nil || len(res.Eligible()) != 2 {
			t.Fatalf("hosted batch: %+v %v", res, err)
		}
	})
}
