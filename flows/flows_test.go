package flows_test

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/blob"
	"signet/database"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/ent/signfield"
	"signet/ent/signinglink"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/jobs"
	"signet/sms"
	"signet/viewer"
)

type env struct {
	svc      *flows.Service
	db       *ent.Client
	database *database.DB
	jobs     *jobs.Queue
	blobs    *blob.Disk
	outbox   *sms.MemoryOutboxStore
	now      time.Time
	users    map[string]viewer.Viewer
}

func setup(t *testing.T, b dbtest.Backend) *env {
	t.Helper()
	return setupWith(t, b, nil)
}

// setupWith is setup with the migrated database's pool replaced by
// wrap(db, dsn) when wrap is set (sqlcount.Counter.Reopen).
func setupWith(t *testing.T, b dbtest.Backend, wrap func(*database.DB, string) (*database.DB, error)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, b.DatabaseURL, b.SQLitePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		dsn := b.DatabaseURL
		if dsn == "" {
			dsn = database.SQLiteDSN(b.SQLitePath)
		}
		if db, err = wrap(db, dsn); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { db.Close() })
	if err := jobs.Migrate(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	q, err := jobs.New(jobs.Config{DB: db, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	outbox := sms.NewMemoryOutboxStore(100)
	if err := flows.AddNotifyWorkers(q, &flows.NotifyWorker{DB: db.Client, SMS: sms.NewOutbox(outbox, nil), BaseURL: "https://sign.example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	blobs, err := blob.OpenDisk(blob.DiskConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db.Client, database: db, jobs: q, blobs: blobs, outbox: outbox, now: time.Now(), users: map[string]viewer.Viewer{}}
	e.svc, err = flows.New(flows.Config{DB: db, Jobs: q, Blobs: e.blobs, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	for name, phone := range map[string]string{"alice": "13800000001", "bob": "13800000002", "carol": "13800000003", "mallory": "13800000009"} {
		u, err := db.Client.User.Create().SetPhone(phone).SetName(name).Save(viewer.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = viewer.Viewer{UserID: u.ID, Phone: phone}
	}
	return e
}

func (e *env) as(name string) context.Context {
	return viewer.NewContext(context.Background(), e.users[name])
}

func wantCode(t *testing.T, err error, code errs.Code, msg string) {
	t.Helper()
	if errs.CodeOf(err) != code || !strings.Contains(errs.MessageOf(err), msg) {
		t.Fatalf("error %v (%q), want %s containing %q", err, errs.MessageOf(err), code, msg)
	}
}

func (e *env) list(t *testing.T, name string, l flows.List, f flows.Filter) []int {
	t.Helper()
	q, err := e.svc.ListQuery(e.as(name), l, f)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := q.Order(ent.Asc(flow.FieldID)).All(e.as(name))
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	return ids
}

// draft makes a sent-ready draft of alice's with bob then carol signing
// (bob at a given position) and mallory nowhere.
func (e *env) draft(t *testing.T, name string) (*ent.Flow, *ent.FlowDocument) {
	t.Helper()
	ctx := e.as("alice")
	f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: name, Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := e.svc.AddDocument(ctx, f.ID, "劳动合同.pdf", bytes.NewReader(testpdf.Make(2)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.UpdateDraft(ctx, f.ID, flows.DraftInput{Name: name, Ordered: true,
		Participants: []flows.ParticipantInput{
			{Key: "b", Name: "王小明", Phone: "13800000002", Order: 1},
			{Key: "c", Name: "李四", Phone: "13800000003", Order: 2},
			{Key: "cc", Role: participant.RoleCc, Name: "赵六", Phone: "13900000004"},
		},
		Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 2, X: 100, Y: 100, Width: 120, Height: 120}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, doc
}

func TestFlowLifecycle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		f, _ := e.draft(t, "2026年劳动合同")
		if !strings.HasPrefix(f.Number, "QS") || f.Status != flow.StatusDraft {
			t.Fatalf("draft = %+v", f)
		}
		if got := e.list(t, "alice", flows.ListDrafts, flows.Filter{}); len(got) != 1 {
			t.Fatalf("alice's drafts = %v", got)
		}
		if got := e.list(t, "bob", flows.ListTodo, flows.Filter{}); len(got) != 0 {
			t.Fatalf("bob sees a draft in 待办: %v", got)
		}

		sent, err := e.svc.Send(e.as("alice"), f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sent.Status != flow.StatusSigning || sent.SentAt == nil {
			t.Fatalf("sent = %+v", sent)
		}
		// Bob (first in order) has it in 待办 and gets the SMS; carol waits.
		if got := e.list(t, "bob", flows.ListTodo, flows.Filter{}); len(got) != 1 || got[0] != f.ID {
			t.Fatalf("bob's 待办 = %v", got)
		}
		if got := e.list(t, "carol", flows.ListTodo, flows.Filter{}); len(got) != 0 {
			t.Fatalf("carol's 待办 before her turn = %v", got)
		}
		msg := waitSMS(t, e.outbox, "13800000002")
		if !strings.Contains(msg.Text, "《2026年劳动合同》") || !strings.Contains(msg.Params["link"], "https://sign.example.com/s/") {
			t.Fatalf("bob's SMS = %+v", msg)
		}
		if got := e.list(t, "alice", flows.ListInitiated, flows.Filter{}); len(got) != 1 {
			t.Fatalf("alice's 我发起的 = %v", got)
		}
		// Filters: keyword, party, contract.
		for _, tc := range []struct {
			f    flows.Filter
			want int
		}{
			{flows.Filter{Keyword: "劳动"}, 1}, {flows.Filter{Keyword: f.Number}, 1}, {flows.Filter{Keyword: "租赁"}, 0},
			{flows.Filter{Party: "李四"}, 1}, {flows.Filter{Party: "张三"}, 0},
			{flows.Filter{Contract: "劳动合同"}, 1}, {flows.Filter{Scene: flow.SceneHr}, 0},
		} {
			if got := e.list(t, "alice", flows.ListInitiated, tc.f); len(got) != tc.want {
				t.Errorf("filter %+v: %v, want %d", tc.f, got, tc.want)
			}
		}
		// An outsider sees nothing, not even through ent.
		if got := e.list(t, "mallory", flows.ListTodo, flows.Filter{}); len(got) != 0 {
			t.Fatalf("mallory's 待办 = %v", got)
		}
		if _, err := e.db.Flow.Get(e.as("mallory"), f.ID); !ent.IsNotFound(err) {
			t.Fatalf("mallory reads the flow: %v", err)
		}
		if n, _ := e.db.Participant.Query().Count(e.as("mallory")); n != 0 {
			t.Fatalf("mallory sees %d participants", n)
		}
		// The sent flow is frozen.
		_, err = e.svc.UpdateDraft(e.as("alice"), f.ID, flows.DraftInput{Name: "改名"})
		wantCode(t, err, errs.Conflict, "已发起")

		// Remind: once, then rate-limited.
		res, err := e.svc.Remind(e.as("alice"), []int{f.ID})
		if err != nil || res[0].Err != nil || res[0].Reminded != 1 {
			t.Fatalf("remind: %+v %v", res, err)
		}
		res, _ = e.svc.Remind(e.as("alice"), []int{f.ID})
		wantCode(t, res[0].Err, errs.RateLimited, "催办过于频繁")
		e.now = e.now.Add(11 * time.Minute)
		if res, _ = e.svc.Remind(e.as("alice"), []int{f.ID}); res[0].Err != nil {
			t.Fatalf("remind after the interval: %v", res[0].Err)
		}
		res, _ = e.svc.Remind(e.as("bob"), []int{f.ID})
		wantCode(t, res[0].Err, errs.NotFound, "合同不存在")

		// Revoke → 已作废 for everyone involved; delete hides it per person.
		_, err = e.svc.Revoke(e.as("bob"), f.ID, "不签了")
		wantCode(t, err, errs.NotFound, "合同不存在")
		if _, err := e.svc.Revoke(e.as("alice"), f.ID, "条款有误"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Revoke(e.as("alice"), f.ID, "再撤一次")
		wantCode(t, err, errs.Conflict, "只有签署中的合同可以撤销")
		for _, who := range []string{"alice", "bob", "carol"} {
			if got := e.list(t, who, flows.ListVoided, flows.Filter{}); len(got) != 1 {
				t.Fatalf("%s's 已作废 = %v", who, got)
			}
		}
		if got := e.list(t, "bob", flows.ListTodo, flows.Filter{}); len(got) != 0 {
			t.Fatalf("revoked flow still in bob's 待办: %v", got)
		}
		if err := e.svc.Delete(e.as("bob"), []int{f.ID}); err != nil {
			t.Fatal(err)
		}
		if got := e.list(t, "bob", flows.ListVoided, flows.Filter{}); len(got) != 0 {
			t.Fatalf("bob's 已作废 after delete = %v", got)
		}
		if got := e.list(t, "alice", flows.ListVoided, flows.Filter{}); len(got) != 1 {
			t.Fatalf("alice's 已作废 after bob deleted = %v", got)
		}
		wantCode(t, e.svc.Delete(e.as("mallory"), []int{f.ID}), errs.NotFound, "合同不存在")
	})
}

// TestListTimeFilters: the lists' time ranges (发起时间, 截止时间) compare
// instants, whatever zone the filter, the stored value and the server's
// clock are in (China Standard Time from the pages, UTC on the server).
func TestListTimeFilters(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		cst := time.FixedZone("CST", 8*3600)
		e.now = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC) // 2026-11-28 04:00 in Beijing
		f, _ := e.draft(t, "时区测试")
		deadline := time.Date(2026, 11, 30, 9, 0, 0, 0, cst) // 2026-11-30 01:00 UTC
		e.db.Flow.UpdateOneID(f.ID).SetDeadline(deadline).ExecX(viewer.System(context.Background()))
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		at := func(s string) *time.Time {
			v, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatal(err)
			}
			return &v
		}
		for _, tc := range []struct {
			name string
			f    flows.Filter
			want int
		}{
			{"sent from the very instant", flows.Filter{SentFrom: at("2026-11-28T04:00:00+08:00")}, 1},
			{"sent from a second later", flows.Filter{SentFrom: at("2026-11-28T04:00:01+08:00")}, 0},
			{"sent before Beijing midnight", flows.Filter{SentTo: at("2026-11-28T00:00:00+08:00")}, 0},
			{"sent before a second later", flows.Filter{SentTo: at("2026-11-28T04:00:01+08:00")}, 1},
			{"sent on the Beijing day", flows.Filter{SentFrom: at("2026-11-28T00:00:00+08:00"), SentTo: at("2026-11-29T00:00:00+08:00")}, 1},
			{"sent on the UTC day after", flows.Filter{SentFrom: at("2026-11-28T00:00:00Z")}, 0},
			{"deadline before 05:00 UTC", flows.Filter{DeadlineTo: at("2026-11-30T05:00:00Z")}, 1},
			{"deadline from 05:00 UTC", flows.Filter{DeadlineFrom: at("2026-11-30T05:00:00Z")}, 0},
			{"deadline from 01:00 UTC", flows.Filter{DeadlineFrom: at("2026-11-30T01:00:00Z")}, 1},
		} {
			if got := e.list(t, "alice", flows.ListInitiated, tc.f); len(got) != tc.want {
				t.Errorf("%s: %v, want %d", tc.name, got, tc.want)
			}
		}
	})
}

func TestDraftRefusals(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		ctx := e.as("alice")
		f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: "空合同"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Send(ctx, f.ID)
		wantCode(t, err, errs.Invalid, "请先上传合同文件")
		_, err = e.svc.AddDocument(ctx, f.ID, "x", strings.NewReader("not a pdf"))
		wantCode(t, err, errs.Invalid, "PDF")
		doc, err := e.svc.AddDocument(ctx, f.ID, "合同", bytes.NewReader(testpdf.Make(1)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Send(ctx, f.ID)
		wantCode(t, err, errs.Invalid, "请至少添加一个签署方")
		bob := []flows.ParticipantInput{{Key: "b", Name: "王小明", Phone: "13800000002"}}
		for _, tc := range []struct {
			name string
			in   flows.DraftInput
			msg  string
		}{
			{"no name", flows.DraftInput{}, "请填写任务名称"},
			{"bad phone", flows.DraftInput{Name: "n", Participants: []flows.ParticipantInput{{Name: "x", Phone: "123"}}}, "手机号"},
			{"page out of range", flows.DraftInput{Name: "n", Participants: bob, Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 3, X: 10, Y: 10, Width: 50, Height: 50}}}, "页码"},
			{"off the page", flows.DraftInput{Name: "n", Participants: bob, Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 1, X: 580, Y: 10, Width: 50, Height: 50}}}, "超出了页面范围"},
			{"unknown party", flows.DraftInput{Name: "n", Participants: bob, Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "z", Kind: signfield.KindPersonalSeal, Page: 1, X: 10, Y: 10, Width: 50, Height: 50}}}, "没有对应的签署方"},
			{"enterprise seal for a person", flows.DraftInput{Name: "n", Participants: bob, Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindEnterpriseSeal, Page: 1, X: 10, Y: 10, Width: 50, Height: 50}}}, "个人签署方不能加盖企业印章"},
			{"past deadline", flows.DraftInput{Name: "n", Deadline: ptr(e.now.Add(-time.Hour))}, "截止时间"},
		} {
			_, err := e.svc.UpdateDraft(ctx, f.ID, tc.in)
			if errs.CodeOf(err) != errs.Invalid || !strings.Contains(errs.MessageOf(err), tc.msg) {
				t.Errorf("%s: %v (%q), want Invalid containing %q", tc.name, err, errs.MessageOf(err), tc.msg)
			}
		}
		// Refusals lost nothing: the draft still has its document and no parties.
		n, _ := e.db.FlowDocument.Query().Count(ctx)
		if n != 1 {
			t.Fatalf("documents after refusals = %d", n)
		}
		// Another user cannot touch it.
		_, err = e.svc.UpdateDraft(e.as("mallory"), f.ID, flows.DraftInput{Name: "偷改"})
		wantCode(t, err, errs.NotFound, "合同不存在")
		_, err = e.svc.AddDocument(e.as("mallory"), f.ID, "x", bytes.NewReader(testpdf.Make(1)))
		wantCode(t, err, errs.NotFound, "合同不存在")
		wantCode(t, e.svc.RemoveDocument(e.as("mallory"), doc.ID), errs.NotFound, "不存在")
		_, err = e.svc.Send(e.as("mallory"), f.ID)
		wantCode(t, err, errs.NotFound, "合同不存在")
		_, _, err = e.svc.DocumentPDF(e.as("mallory"), doc.ID)
		wantCode(t, err, errs.NotFound, "不存在")
		// The owner deletes the draft for good.
		if err := e.svc.Delete(ctx, []int{f.ID}); err != nil {
			t.Fatal(err)
		}
		if got := e.list(t, "alice", flows.ListDrafts, flows.Filter{}); len(got) != 0 {
			t.Fatalf("drafts after delete = %v", got)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func waitSMS(t *testing.T, store *sms.MemoryOutboxStore, phone string) sms.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		msgs, _ := store.List(context.Background(), phone, 1)
		if len(msgs) > 0 {
			return msgs[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no SMS to %s within 10 s", phone)
	return sms.OutboxMessage{}
}

// smsOutbox is an SMS provider writing to the test outbox.
func smsOutbox(e *env) sms.Provider { return sms.NewOutbox(e.outbox, nil) }

// replayRand reads crypto/rand, except that while replay is positive a read
// of the previous read's length gives that read's bytes again.
// Before either, it gives the bytes of script.
type replayRand struct {
	mu     sync.Mutex
	last   []byte
	replay int
	script []byte
}

func (r *replayRand) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.script) > 0 {
		n := copy(p, r.script)
		r.script = r.script[n:]
		return n, nil
	}
	if r.replay > 0 && len(p) == len(r.last) {
		r.replay--
		return copy(p, r.last), nil
	}
	if _, err := cryptorand.Read(p); err != nil {
		return 0, err
	}
	r.last = append(r.last[:0], p...)
	return len(p), nil
}

// A task number already taken (the unique index refuses it) is replaced by
// another: the draft is created, nothing of the failed attempt is left;
// only when every attempt collides is the answer a typed refusal.
func TestDraftNumberTaken(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		r := &replayRand{}
		svc, err := flows.New(flows.Config{DB: e.database, Jobs: e.jobs, Blobs: e.blobs, Rand: r, Now: func() time.Time { return e.now }})
		if err != nil {
			t.Fatal(err)
		}
		ctx := e.as("alice")
		first, err := svc.CreateDraft(ctx, flows.DraftInput{Name: "第一份"})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^QS\d{8}-[2-9A-HJ-NP-Z]{8}$`).MatchString(first.Number) {
			t.Fatalf("number %q", first.Number)
		}
		r.replay = 1 // the next number is the first's again
		second, err := svc.CreateDraft(ctx, flows.DraftInput{Name: "第二份"})
		if err != nil {
			t.Fatalf("a taken number failed the draft: %v", err)
		}
		if second.Number == first.Number || second.Name != "第二份" {
			t.Fatalf("second = %q %q, first %q", second.Number, second.Name, first.Number)
		}
		r.replay = 1 << 10 // every number is the second's
		_, err = svc.CreateDraft(ctx, flows.DraftInput{Name: "第三份"})
		wantCode(t, err, errs.Conflict, "任务编号")
		r.replay = 0
		n, err := e.db.Flow.Query().Count(viewer.System(context.Background()))
		if err != nil || n != 2 {
			t.Fatalf("%d flows (%v), want 2", n, err)
		}
		events, err := e.db.AuditEvent.Query().Count(viewer.System(context.Background()))
		if err != nil || events != 2 {
			t.Fatalf("%d audit events (%v), want the two drafts' creation", events, err)
		}
	})
}

// A signing link code another link has is drawn again: the flow is sent,
// its parties' links are new and distinct.
func TestLinkCodeTaken(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		r := &replayRand{}
		var err error
		if e.svc, err = flows.New(flows.Config{DB: e.database, Jobs: e.jobs, Blobs: e.blobs, Rand: r, Now: func() time.Time { return e.now }}); err != nil {
			t.Fatal(err)
		}
		sys := viewer.System(context.Background())
		first, _ := e.draft(t, "第一份")
		if _, err := e.svc.Send(e.as("alice"), first.ID); err != nil {
			t.Fatal(err)
		}
		old, err := e.db.SigningLink.Query().Select(signinglink.FieldCode).Strings(sys)
		if err != nil || len(old) < 2 {
			t.Fatalf("links %v (%v)", old, err)
		}
		// The next draft's links are drawn as the first link's code, then
		// as the second's, twice (taken, then a duplicate in the send).
		const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
		second, _ := e.draft(t, "第二份")
		for _, c := range []string{old[0], old[1], "zzzzzzzz", "zzzzzzzz"} {
			for _, ch := range []byte(c) {
				r.script = append(r.script, byte(strings.IndexByte(alphabet, ch)))
			}
		}
		if _, err := e.svc.Send(e.as("alice"), second.ID); err != nil {
			t.Fatalf("a taken link code failed the send: %v", err)
		}
		all, err := e.db.SigningLink.Query().Select(signinglink.FieldCode).Strings(sys)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, c := range all {
			if seen[c] || len(c) != 8 {
				t.Fatalf("link codes %v", all)
			}
			seen[c] = true
		}
		if len(all) != 2*len(old) || !seen["zzzzzzzz"] {
			t.Fatalf("link codes %v after the second send, %v before", all, old)
		}
	})
}
