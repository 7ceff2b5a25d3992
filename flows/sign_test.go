package flows_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"signet/accounts"
	"signet/certs"
	"signet/database"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/participant"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/ent/signinglink"
	"signet/enterprises"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/signingcore/font"
	"signet/signingcore/pades"
	"signet/signingcore/seal"
	"signet/signingcore/verify"
	"signet/sms"
	"signet/trust"
	"signet/viewer"
)

// ownerSeals is the personal-seal rule of enterprises.UsableSeal (only the
// owner applies a personal seal), enough for persons signing; enterprise
// seals and grants are tested in the enterprises package and end to end.
type ownerSeals struct{ db *database.DB }

func (o ownerSeals) UsableSeal(ctx context.Context, userID, sealID int, _ enterprises.Scope) (*ent.Seal, error) {
	sl, err := enterprises.SealForSigning(ctx, o.db, sealID)
	if err != nil || sl.UserID == nil || *sl.UserID != userID {
		return nil, errs.New(errs.NotFound, "印章不存在")
	}
	return sl, nil
}

// RecheckSeals is enterprises'. Its rules for a personal seal are
// UsableSeal's above plus the seal's status and certificate.
func (o ownerSeals) RecheckSeals(ctx context.Context, tx *ent.Tx, at time.Time, checks []enterprises.SealCheck) ([]error, error) {
	return enterprises.RecheckSeals(ctx, tx, o.db.Dialect, at, checks)
}

type signEnv struct {
	*env
	ts    *trust.Services
	seals map[string]int
	certs *certs.Service
	gen   *seal.Generator
	// readied counts readyToSign's codes (bench_test.go).
	readied int
}

func setupSigning(t *testing.T, b dbtest.Backend) *signEnv {
	t.Helper()
	return setupSigningWith(t, b, nil)
}

// setupSigningWith is setupSigning over setupWith(t, b, wrap).
func setupSigningWith(t *testing.T, b dbtest.Backend, wrap func(*database.DB, string) (*database.DB, error)) *signEnv {
	t.Helper()
	ctx := context.Background()
	e := setupWith(t, b, wrap)
	ts, _, err := trust.Open(ctx, trust.Config{DataDir: t.TempDir(), BaseURL: "https://sign.example.com", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	cs, err := certs.New(certs.Config{DB: e.db, Keys: ts.Keys, CA: ts.CA, PseudonymKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	fnt, err := font.Parse()
	if err != nil {
		t.Fatal(err)
	}
	gen, err := seal.New(fnt)
	if err != nil {
		t.Fatal(err)
	}
	se := &signEnv{env: e, ts: ts, seals: map[string]int{}, certs: cs, gen: gen}
	for who, id := range map[string]string{"bob": "11010519491231002X", "carol": "110105194912310038", "mallory": "110105194912310046"} {
		names := map[string]string{"bob": "王小明", "carol": "李四", "mallory": "钱七"}
		c, err := cs.IssuePerson(ctx, e.users[who].UserID, names[who], id)
		if err != nil {
			t.Fatalf("issue %s: %v", who, err)
		}
		img, err := gen.Personal(seal.Personal{Name: names[who]})
		if err != nil {
			t.Fatal(err)
		}
		sl, err := e.db.Seal.Create().SetUserID(e.users[who].UserID).SetKind(entseal.KindPersonal).SetName(names[who]).
			SetImage(img.PNG).SetWidth(img.Width).SetHeight(img.Height).SetSource(entseal.SourceGenerated).
			SetCertificateID(c.ID).SetIsDefault(true).Save(viewer.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		se.seals[who] = sl.ID
	}
	acc, err := accounts.New(accounts.Config{DB: e.db, SMS: smsOutbox(e), Hasher: accounts.NewPasswordHasher(8*1024, 1, 1),
		Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = flows.New(flows.Config{DB: e.database, Jobs: e.jobs, Blobs: e.blobs, Accounts: acc,
		Certs: cs, Seals: ownerSeals{e.database}, Signer: pades.NewSigner(pades.Config{}), TSA: ts.TSA,
		Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	return se
}

func (e *signEnv) sign(t *testing.T, who string, in flows.SignInput) (*ent.Flow, error) {
	t.Helper()
	if _, _, err := e.svc.SendIntentCode(e.as(who), in); err != nil {
		return nil, err
	}
	msg := waitSMS(t, e.outbox, e.users[who].Phone)
	in.Code = msg.Params["code"]
	e.now = e.now.Add(61 * time.Second)
	return e.svc.Sign(e.as(who), in)
}

func TestSignFlow(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, doc := e.draft(t, "采购合同")
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		bob := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
		carol := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"],
			Placements: []flows.Placement{{DocumentID: doc.ID, Kind: signfield.KindPersonalSeal, Page: 1, X: 300, Y: 80, Width: 100, Height: 40}}}

		// Out of turn, an outsider, someone else's seal.
		_, _, err := e.svc.SendIntentCode(e.as("carol"), carol)
		wantCode(t, err, errs.Conflict, "还未轮到您签署")
		_, _, err = e.svc.SendIntentCode(e.as("mallory"), flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["mallory"]})
		wantCode(t, err, errs.NotFound, "合同不存在")
		_, _, err = e.svc.SendIntentCode(e.as("bob"), flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"]})
		wantCode(t, err, errs.NotFound, "印章不存在")

		// A wrong intent code, and a code for other fields, are refused.
		if _, _, err := e.svc.SendIntentCode(e.as("bob"), bob); err != nil {
			t.Fatal(err)
		}
		code := waitSMS(t, e.outbox, e.users["bob"].Phone)
		if !strings.Contains(code.Text, "《采购合同》") || !strings.Contains(code.Text, "文件指纹") {
			t.Fatalf("intent SMS = %q", code.Text)
		}
		wrong := bob
		wrong.Code = "000000"
		if code.Params["code"] == "000000" {
			wrong.Code = "111111"
		}
		_, err = e.svc.Sign(e.as("bob"), wrong)
		wantCode(t, err, errs.Invalid, "验证码错误")
		moved := bob
		moved.Placements = []flows.Placement{{DocumentID: doc.ID, Kind: signfield.KindPersonalSeal, Page: 1, X: 10, Y: 10, Width: 60, Height: 60}}
		moved.Code = code.Params["code"]
		_, err = e.svc.Sign(e.as("bob"), moved)
		wantCode(t, err, errs.Invalid, "验证码无效")

		// Bob signs at the initiator's position.
		bob.Code = code.Params["code"]
		got, err := e.svc.Sign(e.as("bob"), bob)
		if err != nil {
			t.Fatalf("bob signs: %v", err)
		}
		if got.Status != flow.StatusSigning {
			t.Fatalf("after bob: %s", got.Status)
		}
		_, err = e.svc.Sign(e.as("bob"), bob)
		wantCode(t, err, errs.Conflict, "您已签署")
		if ids := e.list(t, "bob", flows.ListDone, flows.Filter{}); len(ids) != 1 {
			t.Fatalf("bob's 已办 = %v", ids)
		}
		if ids := e.list(t, "carol", flows.ListTodo, flows.Filter{}); len(ids) != 1 {
			t.Fatalf("carol's 待办 after bob = %v", ids)
		}
		// Her signing link: made when the flow was sent, looked up by the
		// SMS job (bob's commit did not read it), and it names her phone.
		carolSMS := waitSMS(t, e.outbox, e.users["carol"].Phone)
		info, err := e.svc.Link(context.Background(), strings.TrimPrefix(carolSMS.Params["link"], "https://sign.example.com/s/"))
		if err != nil || info.MaskedPhone != accounts.MaskPhone(e.users["carol"].Phone) || info.FlowName != "采购合同" {
			t.Fatalf("carol's link %q: %+v %v", carolSMS.Params["link"], info, err)
		}

		// Carol places her own seal and signs: the flow completes.
		got, err = e.sign(t, "carol", carol)
		if err != nil {
			t.Fatalf("carol signs: %v", err)
		}
		if got.Status != flow.StatusCompleted || got.FinishedAt == nil {
			t.Fatalf("after carol: %s", got.Status)
		}
		if ids := e.list(t, "alice", flows.ListCompleted, flows.Filter{}); len(ids) != 1 {
			t.Fatalf("alice's 已完成 = %v", ids)
		}

		// The document carries two valid signatures by the platform CA.
		_, pdf, err := e.svc.DocumentPDF(e.as("alice"), doc.ID)
		if err != nil {
			t.Fatal(err)
		}
		root, _ := e.ts.CA.RootCertificate()
		rep, err := verify.Verify(pdf, verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: e.ts.CA}})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != verify.VerdictValid || len(rep.Signatures) != 2 {
			t.Fatalf("verification: %s %s %v (%d signatures)", rep.Verdict, rep.Summary, rep.Reasons, len(rep.Signatures))
		}
		// A one-byte change is caught.
		bad := append([]byte(nil), pdf...)
		bad[len(bad)/3] ^= 1
		if rep, err := verify.Verify(bad, verify.Options{Roots: []*x509.Certificate{root}}); err == nil && rep.Verdict == verify.VerdictValid {
			t.Fatal("a tampered document verifies")
		}
	})
}

// sentToCarol sends a draft of alice's (bob signs first, carol second) and
// returns it with carol's participant row.
func (e *signEnv) sentToCarol(t *testing.T, name string) (*ent.Flow, *ent.Participant) {
	t.Helper()
	f, _ := e.draft(t, name)
	if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
		t.Fatal(err)
	}
	carol, err := e.db.Participant.Query().Where(participant.FlowID(f.ID), participant.Phone(e.users["carol"].Phone)).
		Only(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return f, carol
}

// TestNextSignerLinkMadeByJob: a flow sent before sending made every
// party's link (and recorded the initiator's name) still texts the next
// signer a working link naming the initiator: the job makes the link once
// and reads the name from the account.
func TestNextSignerLinkMadeByJob(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, carol := e.sentToCarol(t, "旧合同")
		sys := viewer.System(context.Background())
		if n, err := e.db.SigningLink.Delete().Where(signinglink.ParticipantID(carol.ID)).Exec(sys); err != nil || n != 1 {
			t.Fatalf("carol's link made at sending: %d %v", n, err)
		}
		// Nor did an old flow record how its initiator is named.
		if err := e.db.Flow.UpdateOneID(f.ID).SetInitiatorName("").Exec(sys); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sign(t, "bob", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}); err != nil {
			t.Fatal(err)
		}
		msg := waitSMS(t, e.outbox, e.users["carol"].Phone)
		if want := sendFlowSender(t, e); msg.Params["sender"] != want {
			t.Errorf("SMS sender %q, want %q", msg.Params["sender"], want)
		}
		code := strings.TrimPrefix(msg.Params["link"], "https://sign.example.com/s/")
		links, err := e.db.SigningLink.Query().Where(signinglink.ParticipantID(carol.ID)).All(sys)
		if err != nil || len(links) != 1 || links[0].Code != code || code == "" {
			t.Fatalf("carol's links %v (%v), SMS link %q", links, err, msg.Params["link"])
		}
		if info, err := e.svc.Link(context.Background(), code); err != nil || info.FlowName != "旧合同" {
			t.Fatalf("link %q: %+v %v", code, info, err)
		}
	})
}

// TestNotifyJobQueuedWithoutPhone: a sign-link job queued by an earlier
// version carries only IDs; the job reads the participant's phone and
// texts them their link.
func TestNotifyJobQueuedWithoutPhone(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, carol := e.sentToCarol(t, "旧任务")
		sys := viewer.System(context.Background())
		w := &flows.NotifyWorker{DB: e.db, SMS: sms.NewOutbox(e.outbox, nil), BaseURL: "https://sign.example.com"}
		job := &river.Job[flows.NotifyArgs]{Args: flows.NotifyArgs{Notification: flows.Notification{
			Type: flows.NotifySignLink, FlowID: f.ID, ParticipantID: carol.ID}}}
		if err := w.Work(context.Background(), job); err != nil {
			t.Fatal(err)
		}
		msg := waitSMS(t, e.outbox, e.users["carol"].Phone)
		links, err := e.db.SigningLink.Query().Where(signinglink.ParticipantID(carol.ID)).All(sys)
		if err != nil || len(links) != 1 || msg.Params["link"] != "https://sign.example.com/s/"+links[0].Code {
			t.Fatalf("SMS link %q, carol's links %v %v", msg.Params["link"], links, err)
		}
	})
}

// sendFlowSender is how alice's SMS name her: her verified name, or her
// masked phone.
func sendFlowSender(t *testing.T, e *signEnv) string {
	t.Helper()
	u, err := e.db.User.Get(viewer.System(context.Background()), e.users["alice"].UserID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "" {
		return u.Name
	}
	return accounts.MaskPhone(u.Phone)
}

func TestDecline(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, _ := e.draft(t, "租赁合同")
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Decline(e.as("bob"), f.ID, "")
		wantCode(t, err, errs.Invalid, "请填写拒签原因")
		_, err = e.svc.Decline(e.as("mallory"), f.ID, "不想签")
		wantCode(t, err, errs.NotFound, "合同不存在")
		got, err := e.svc.Decline(e.as("bob"), f.ID, "价格有误")
		if err != nil || got.Status != flow.StatusDeclined || got.EndReason != "价格有误" {
			t.Fatalf("decline: %+v %v", got, err)
		}
		_, _, err = e.svc.SendIntentCode(e.as("carol"), flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"]})
		wantCode(t, err, errs.Conflict, "已被拒签")
		n, _ := e.db.Participant.Query().Where(participant.StatusEQ(participant.StatusDeclined)).Count(e.as("alice"))
		if n != 1 {
			t.Fatalf("declined participants = %d", n)
		}
	})
}

func TestPasscode(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, doc := e.draft(t, "保密协议")
		code := "8426"
		if _, err := e.svc.UpdateDraft(e.as("alice"), f.ID, flows.DraftInput{Name: "保密协议", Ordered: true, Passcode: &code}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		f, _ = e.db.Flow.Get(e.as("bob"), f.ID)
		if !flows.HasPasscode(f) || f.InitiatorName != "alice" {
			t.Fatalf("flow: passcode %v, initiator %q", flows.HasPasscode(f), f.InitiatorName)
		}
		// The initiator reads; the signer must enter the passcode first.
		if _, _, err := e.svc.DocumentPDF(e.as("alice"), doc.ID); err != nil {
			t.Fatalf("initiator reads: %v", err)
		}
		_, _, err := e.svc.DocumentPDF(e.as("bob"), doc.ID)
		wantCode(t, err, errs.Forbidden, "请先输入签署口令")
		if ok, _ := e.svc.PasscodeVerified(e.as("bob"), f); ok {
			t.Fatal("passcode verified before entering it")
		}
		_, _, err = e.svc.SendIntentCode(e.as("bob"), flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]})
		wantCode(t, err, errs.Forbidden, "请先输入签署口令")
		wantCode(t, e.svc.VerifyPasscode(e.as("bob"), f.ID, "0000"), errs.Invalid, "签署口令错误，还可尝试4次")
		if err := e.svc.VerifyPasscode(e.as("bob"), f.ID, code); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.svc.DocumentPDF(e.as("bob"), doc.ID); err != nil {
			t.Fatalf("after the passcode: %v", err)
		}
		if ok, _ := e.svc.PasscodeVerified(e.as("bob"), f); !ok {
			t.Fatal("passcode not recorded")
		}
		// Five wrong tries lock it for that party.
		for i := 0; i < 5; i++ {
			e.svc.VerifyPasscode(e.as("carol"), f.ID, "1111")
		}
		wantCode(t, e.svc.VerifyPasscode(e.as("carol"), f.ID, code), errs.RateLimited, "错误次数过多")
		wantCode(t, e.svc.VerifyPasscode(e.as("mallory"), f.ID, code), errs.NotFound, "合同不存在")
	})
}
