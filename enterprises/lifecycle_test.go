package enterprises_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"signet/audit"
	"signet/ent/certificate"
	"signet/ent/certorder"
	entseal "signet/ent/seal"
	"signet/enterprises"
	. "signet/enterprises/enterprisestest"
	"signet/errs"
	"signet/internal/dbtest"
	"signet/viewer"
)

// TestReviewJobs: moving an order into review inserts its River job in the
// same transaction; the job submits to an unreachable CA again and snoozes
// (never fails), concludes the order once the CA decided, and the periodic
// sweep restores a lost job but never duplicates a live one.
func TestReviewJobs(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		e := s.App.Enterprises
		ctx, _ := User(t, s, "13800000031")
		client := Must(s.App.Jobs.Client())(t)
		jobsOf := func(orderID int) []*rivertype.JobRow {
			t.Helper()
			res := Must(client.JobList(context.Background(), river.NewJobListParams().Kinds(enterprises.ReviewArgs{}.Kind()).First(100)))(t)
			var out []*rivertype.JobRow
			for _, j := range res.Jobs {
				var a enterprises.ReviewArgs
				if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
					t.Fatal(err)
				}
				if a.OrderID == orderID && j.State != rivertype.JobStateCompleted && j.State != rivertype.JobStateCancelled {
					out = append(out, j)
				}
			}
			return out
		}

		// The CA is down for this name: the order waits in review without a
		// CA order, and its job is there.
		down := Certify(t, s, ctx, Company{Name: "审核故障测试有限公司", Code: CreditCode(7001), LegalRep: "冯一", LegalRepPhone: "13900007101"})
		if down.Step != certorder.StepReview || down.CaOrderID != "" {
			t.Fatalf("order with the CA down: %s %q", down.Step, down.CaOrderID)
		}
		js := jobsOf(down.ID)
		if len(js) != 1 || js[0].State != rivertype.JobStateScheduled || !js[0].ScheduledAt.After(time.Now()) {
			t.Fatalf("review job of the paid order: %+v", js)
		}
		w := enterprises.NewReviewWorker(e)
		job := &river.Job[enterprises.ReviewArgs]{JobRow: &rivertype.JobRow{CreatedAt: time.Now()}, Args: enterprises.ReviewArgs{OrderID: down.ID}}
		var snooze *river.JobSnoozeError
		if err := w.Work(context.Background(), job); !errors.As(err, &snooze) || snooze.Duration != enterprises.DefaultReviewPoll {
			t.Fatalf("worker with the CA down: %v, want a snooze of %s", err, enterprises.DefaultReviewPoll)
		}
		// The sweep does not duplicate a live job, and restores a lost one.
		if n := Must(e.SweepReviews(context.Background()))(t); n != 0 {
			t.Errorf("sweep inserted %d jobs next to a live one", n)
		}
		Must(client.JobDelete(context.Background(), js[0].ID))(t)
		if n := Must(e.SweepReviews(context.Background()))(t); n != 1 || len(jobsOf(down.ID)) != 1 {
			t.Errorf("sweep restored %d jobs", n)
		}

		// A reachable CA: the job concludes the order after the delay.
		o := Must(e.StartCertification(ctx, enterprises.CertifyInput{Name: "任务测试有限公司", CreditCode: CreditCode(7002),
			Address: "浙江省杭州市西湖区文三路1号", LegalRepName: "冯二", LegalRepIDNumber: IDNumber("19800202", 22)}))(t)
		before := s.App.Sandboxes.CA.Submissions()
		o = ToReview(t, s, ctx, o, Company{LegalRepPhone: "13900007102"})
		if o.CaOrderID == "" || s.App.Sandboxes.CA.Submissions() != before+1 {
			t.Fatalf("not submitted at once: %q", o.CaOrderID)
		}
		job.Args.OrderID = o.ID
		if err := w.Work(context.Background(), job); !errors.As(err, &snooze) {
			t.Fatalf("worker before the CA decided: %v", err)
		}
		// Refreshing and the job together never make a second CA order.
		Must(e.Refresh(ctx, o.ID))(t)
		if s.App.Sandboxes.CA.Submissions() != before+1 {
			t.Errorf("resubmitted: %d CA orders", s.App.Sandboxes.CA.Submissions()-before)
		}
		s.Clock.Advance(s.App.Config.SandboxCAReviewDelay + time.Second)
		if err := w.Work(context.Background(), job); err != nil {
			t.Fatalf("worker after the CA decided: %v", err)
		}
		if o = Must(e.Order(ctx, o.ID))(t); o.Step != certorder.StepApproved {
			t.Fatalf("worker left the order at %s", o.Step)
		}
		// Later polls back off: 30 s, then 2 min, then 10 min.
		for _, c := range []struct{ age, want time.Duration }{{time.Minute, 30 * time.Second}, {30 * time.Minute, 2 * time.Minute}, {5 * time.Hour, 10 * time.Minute}} {
			if got := enterprises.ReviewPollDelay(enterprises.DefaultReviewPoll, c.age); got != c.want {
				t.Errorf("poll delay at %s: %s, want %s", c.age, got, c.want)
			}
		}
	})
}

// actions returns the actions of an enterprise's trail in order, and
// checks the chain verifies.
func actions(t *testing.T, ctx context.Context, e *enterprises.Service) []string {
	t.Helper()
	var out []string
	var after int64
	for {
		p := Must(e.ConsoleTrail(ctx, after, 100))(t)
		for _, ev := range p.Events {
			out = append(out, ev.Action)
		}
		if p.Next == 0 {
			return out
		}
		after = p.Next
	}
}

// TestTrailRecertificationAndUKey: the console's trail records every
// decision in a verifiable chain (administrators only); a changed name
// needs a re-certification, which issues a new certificate and new seals
// and reopens seal creation and renewal; a UKey's certificate binds to its
// pending custody record under the 一key一章 / 一key多章 rules.
func TestTrailRecertificationAndUKey(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		e := s.App.Enterprises
		admin, _ := User(t, s, "13800000041")
		co := Company{Name: "轨迹测试有限公司", Code: CreditCode(8001), LegalRep: "陈一", LegalRepPhone: "13900008101"}
		o := Certify(t, s, admin, co)
		eid := o.EnterpriseID
		member, _ := User(t, s, "13800000042")
		jr := Must(e.RequestJoin(member, co.Name, "入职"))(t)
		Must(e.SwitchSpace(admin, eid))(t)
		Must(e.DecideJoin(admin, jr.ID, true, ""))(t)
		Must(e.SwitchSpace(member, eid))(t)
		_, err := e.ConsoleTrail(member, 0, 10)
		wantCode(t, err, errs.Forbidden, "管理员")
		_, err = e.StartRecertification(member)
		wantCode(t, err, errs.Forbidden, "管理员")
		_, err = e.StartRecertification(admin)
		wantCode(t, err, errs.Conflict, "无需重新认证")

		contract := mustSeal(t, s, eid, entseal.KindContract)
		mid := viewer.FromContext(member).UserID
		g := Must(e.GrantSeal(admin, enterprises.GrantInput{SealID: contract.ID, UserID: mid,
			ValidFrom: s.Clock.Now(), ValidUntil: s.Clock.Now().Add(time.Hour)}))(t)
		if gs := Must(e.MyGrants(member))(t); len(gs) != 1 || gs[0].ID != g.ID {
			t.Errorf("my grants %v", gs)
		}
		Must(e.SetSealStatus(admin, contract.ID, enterprises.SealDisabled))(t)
		Must(e.SetSealStatus(admin, contract.ID, enterprises.SealEnabled))(t)
		oldCert := Must(s.App.DB.Client.Certificate.Query().Where(certificate.EnterpriseID(eid)).Only(viewer.System(admin)))(t)
		newName := "轨迹新名称有限公司"
		Must(e.UpdateOrganization(admin, enterprises.OrgChange{Name: &newName}))(t)
		// The member's grant ended with the voided seal.
		wantCode(t, e.CanUseSeal(member, mid, contract.ID, enterprises.Scope{}), errs.Forbidden, "")
		_, err = e.CreateSeal(admin, enterprises.SealInput{Kind: entseal.KindOfficial})
		wantCode(t, err, errs.Conflict, "重新认证")

		// Re-certification: the same steps, as the administrator.
		ro := Must(e.StartRecertification(admin))(t)
		if ro.Kind != certorder.KindRecertification || ro.EnterpriseID != eid || ro.Step != certorder.StepApplication {
			t.Fatalf("re-certification order %+v", ro)
		}
		_, err = e.StartRecertification(admin)
		wantCode(t, err, errs.Conflict, "进行中")
		// Revoking it leaves the enterprise certified; continuing resumes it.
		ro = Must(e.RevokeCertification(admin, ro.ID))(t)
		if ro.RevokedAt == nil {
			t.Fatal("re-certification not revoked")
		}
		if en := Must(s.App.DB.Client.Enterprise.Get(viewer.System(admin), eid))(t); en.Status != "certified" {
			t.Fatalf("revoking a re-certification left the enterprise %s", en.Status)
		}
		_, err = e.SaveApplication(admin, ro.ID, enterprises.ApplicationInput{})
		wantCode(t, err, errs.Conflict, "继续认证")
		ro = Must(e.ContinueCertification(admin, ro.ID))(t)
		co.Name, co.LegalRepPhone = newName, "13900008102"
		ro = Complete(t, s, admin, ro, co)
		if ro.Step != certorder.StepApproved {
			t.Fatalf("re-certification %s", ro.Step)
		}
		en := Must(s.App.DB.Client.Enterprise.Get(viewer.System(admin), eid))(t)
		if en.RecertifyRequired || en.Status != "certified" {
			t.Fatalf("after re-certification: required %v status %s", en.RecertifyRequired, en.Status)
		}
		nc := Must(s.App.DB.Client.Certificate.Query().Where(certificate.EnterpriseID(eid), certificate.StatusEQ(certificate.StatusActive)).Only(viewer.System(admin)))(t)
		if nc.ID == oldCert.ID || !strings.Contains(nc.Subject, newName) {
			t.Fatalf("new certificate %s", nc.Subject)
		}
		seals := Must(s.App.DB.Client.Seal.Query().Where(entseal.EnterpriseID(eid), entseal.StatusEQ(entseal.StatusEnabled)).All(viewer.System(admin)))(t)
		if len(seals) != 3 {
			t.Fatalf("%d enabled seals after re-certification", len(seals))
		}
		for _, sl := range seals {
			if sl.CertificateID == nil || *sl.CertificateID != nc.ID {
				t.Errorf("seal %s not on the new certificate", sl.Kind)
			}
		}
		if n := Must(s.App.DB.Client.Seal.Query().Where(entseal.EnterpriseID(eid), entseal.StatusEQ(entseal.StatusVoided)).Count(viewer.System(admin)))(t); n != 3 {
			t.Errorf("%d voided seals kept", n)
		}
		Must(e.CreateSeal(admin, enterprises.SealInput{Kind: entseal.KindCustom, Horizontal: "财务专用章"}))(t)
		Must(e.RenewCertificate(admin, nc.ID))(t)
		if msgs := Outbox(t, s, "13700008102"); !strings.Contains(msgs[0].Text, "重新认证成功") {
			t.Errorf("re-certification SMS %q", msgs[0].Text)
		}

		// The trail: every decision, in order, in a chain that verifies.
		got := strings.Join(actions(t, admin, e), " ")
		for _, want := range []string{
			"certification.started", "certification.submitted", "certification.approved", "certificate.issued",
			"join.requested", "join.approved", "seal.granted", "seal.disabled", "seal.enabled",
			"organization.updated", "seal.voided", "seal.grant_revoked", "certificate.revoked",
			"recertification.started", "certification.revoked", "certification.continued", "certification.document_uploaded",
			"certification.submitted", "certification.approved", "certificate.issued", "seal.created", "certificate.renewed",
		} {
			i := strings.Index(got, want)
			if i < 0 {
				t.Fatalf("trail lacks %s after the earlier events: %s", want, got)
			}
			got = got[i+len(want):]
		}
		rep := Must(audit.Verify(viewer.System(admin), s.App.DB.Client, enterprises.AuditChain(eid)))(t)
		if !rep.OK() {
			t.Errorf("trail does not verify: %+v", rep.Problems)
		}

		// UKey 一key一章: one pending custody record per seal.
		uo := Certify(t, s, admin, Company{Name: "优盾一章有限公司", Code: CreditCode(8002), LegalRep: "陈二", LegalRepPhone: "13900008103",
			Custody: enterprises.CustodyUKey, UKeyType: "one_key_one_seal"})
		recs := Must(s.App.DB.Client.Certificate.Query().Where(certificate.EnterpriseID(uo.EnterpriseID)).All(viewer.System(admin)))(t)
		if len(recs) != 3 {
			t.Fatalf("一key一章: %d custody records, want one per seal", len(recs))
		}
		Must(e.SwitchSpace(admin, uo.EnterpriseID))(t)
		rec := recs[0]
		key := Must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
		csr := Must(x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "UKey"}}, key))(t)
		csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr})
		certPEM := Must(e.IssueUKeyCertificate(admin, rec.ID, csrPEM))(t)
		// Refusals: garbage, a self-made certificate, another enterprise's.
		_, err = bindProven(t, admin, e, rec.ID, []byte("not a certificate"), softKey(key))
		wantCode(t, err, errs.Invalid, "证书格式")
		self := selfSigned(t, key, "优盾一章有限公司")
		_, err = bindProven(t, admin, e, rec.ID, self, softKey(key))
		wantCode(t, err, errs.Invalid, "CA")
		_, err = e.IssueUKeyCertificate(member, rec.ID, csrPEM)
		wantCode(t, err, errs.Forbidden, "")
		bound := Must(bindProven(t, admin, e, rec.ID, certPEM, softKey(key)))(t)
		if bound.Status != certificate.StatusActive || bound.BoundAt == nil || bound.Serial == "" || bound.KeyURI != "" {
			t.Fatalf("bound record %+v", bound)
		}
		_, err = bindProven(t, admin, e, rec.ID, certPEM, softKey(key))
		wantCode(t, err, errs.Conflict, "")
		// The same certificate cannot serve a second record.
		_, err = bindProven(t, admin, e, recs[1].ID, certPEM, softKey(key))
		wantCode(t, err, errs.Conflict, "已绑定")
		// A new seal of a 一key一章 enterprise gets its own custody record.
		ns := Must(e.CreateSeal(admin, enterprises.SealInput{Kind: entseal.KindCustom, Horizontal: "财务专用章"}))(t)
		nr := Must(s.App.DB.Client.Certificate.Get(viewer.System(admin), *ns.CertificateID))(t)
		if nr.Status != certificate.StatusPending || nr.Custody != certificate.CustodyUkey || nr.ID == rec.ID {
			t.Errorf("new seal's custody record %+v", nr)
		}
		// A UKey seal cannot sign on the server.
		sl := Must(s.App.DB.Client.Seal.Query().Where(entseal.CertificateID(rec.ID)).Only(viewer.System(admin)))(t)
		_, err = e.SealSigner(admin, viewer.FromContext(admin).UserID, sl.ID, enterprises.Scope{})
		wantCode(t, err, errs.Conflict, "UKey")
		// The 一key多章 rule: one record carrying several seals binds them all.
		mo := Certify(t, s, admin, Company{Name: "优盾多章有限公司", Code: CreditCode(8003), LegalRep: "陈三", LegalRepPhone: "13900008104",
			Custody: enterprises.CustodyUKey})
		mrec := Must(s.App.DB.Client.Certificate.Query().Where(certificate.EnterpriseID(mo.EnterpriseID)).Only(viewer.System(admin)))(t)
		Must(e.SwitchSpace(admin, mo.EnterpriseID))(t)
		// Another enterprise's record is not found from this console.
		_, err = bindProven(t, admin, e, recs[2].ID, certPEM, softKey(key))
		wantCode(t, err, errs.NotFound, "")
		// A certificate naming another enterprise does not bind.
		_, err = bindProven(t, admin, e, mrec.ID, certPEM, softKey(key))
		wantCode(t, err, errs.Invalid, "不一致")
		Must(bindProven(t, admin, e, mrec.ID, Must(e.IssueUKeyCertificate(admin, mrec.ID, csrPEM))(t), softKey(key)))(t)
		if n := Must(s.App.DB.Client.Seal.Query().Where(entseal.CertificateID(mrec.ID)).Count(viewer.System(admin)))(t); n != 3 {
			t.Errorf("一key多章: %d seals on the key", n)
		}
	})
}

// selfSigned makes a certificate for key that the platform CA did not issue.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey, name string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der := Must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))(t)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestLiveUpdates: the console's administrator hears of a grant on the
// enterprise's topic, the grantee on their own; an outsider hears nothing.
func TestLiveUpdates(t *testing.T) {
	s := start(t, dbtest.SQLite(t))
	e := s.App.Enterprises
	admin, _ := User(t, s, "13800000051")
	o := Certify(t, s, admin, Company{Name: "实时更新有限公司", Code: CreditCode(9001), LegalRep: "褚一", LegalRepPhone: "13900009101"})
	member, _ := User(t, s, "13800000052")
	outsider, _ := User(t, s, "13800000053")
	Must(e.SwitchSpace(admin, o.EnterpriseID))(t)
	Must(e.AddMember(admin, "13800000052", enterprises.RoleMember, ""))(t)
	subCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := func(ctx context.Context) <-chan enterprises.Update {
		return Must(e.Updates(viewer.NewContext(subCtx, viewer.FromContext(ctx))))(t)
	}
	adminCh, memberCh, outsiderCh := sub(admin), sub(member), sub(outsider)
	sl := mustSeal(t, s, o.EnterpriseID, entseal.KindOfficial)
	g := Must(e.GrantSeal(admin, enterprises.GrantInput{SealID: sl.ID, UserID: viewer.FromContext(member).UserID,
		ValidFrom: s.Clock.Now(), ValidUntil: s.Clock.Now().Add(time.Hour)}))(t)
	want := func(name string, ch <-chan enterprises.Update, enterpriseID int) {
		t.Helper()
		select {
		case u := <-ch:
			if u.Kind != string(audit.SealGranted) || u.ID != g.ID || u.EnterpriseID != enterpriseID {
				t.Errorf("%s got %+v", name, u)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s heard nothing", name)
		}
	}
	want("administrator", adminCh, o.EnterpriseID)
	want("grantee", memberCh, 0)
	select {
	case u := <-outsiderCh:
		t.Errorf("outsider heard %+v", u)
	case <-time.After(200 * time.Millisecond):
	}
	_, err := e.Updates(context.Background())
	wantCode(t, err, errs.Unauthenticated, "")
}
