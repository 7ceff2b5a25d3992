package flows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/certs"
	"signet/contacts"
	"signet/ent/contact"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/errs"
	"signet/events"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/signingcore/pades"
	"signet/viewer"
)

// liveEnv is a signing environment whose service publishes on a local
// broker and adds co-signers to contacts.
type liveEnv struct {
	*signEnv
	broker   *events.Local
	contacts *contacts.Service
}

func setupLive(t *testing.T, b dbtest.Backend) *liveEnv {
	t.Helper()
	se := setupSigning(t, b)
	cs, err := certs.New(certs.Config{DB: se.db, Keys: se.ts.Keys, CA: se.ts.CA, PseudonymKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := accounts.New(accounts.Config{DB: se.db, SMS: smsOutbox(se.env), Hasher: accounts.NewPasswordHasher(8*1024, 1, 1),
		Now: func() time.Time { return se.now }})
	if err != nil {
		t.Fatal(err)
	}
	le := &liveEnv{signEnv: se, broker: events.NewLocal(0, nil), contacts: contacts.New(se.db)}
	t.Cleanup(func() { le.broker.Close() })
	se.svc, err = flows.New(flows.Config{DB: se.database, Jobs: se.jobs, Blobs: se.blobs, Accounts: acc,
		Certs: cs, Seals: ownerSeals{se.database}, Signer: pades.NewSigner(pades.Config{}), TSA: se.ts.TSA,
		Now: func() time.Time { return se.now }, Broker: le.broker, Contacts: le.contacts})
	if err != nil {
		t.Fatal(err)
	}
	// 赵六, the CC of e.draft, has an account too.
	u, err := se.db.User.Create().SetPhone("13900000004").SetName("赵六").Save(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	se.users["zhao"] = viewer.Viewer{UserID: u.ID, Phone: "13900000004"}
	return le
}

// nextUpdate waits for an update of kind, skipping others.
func nextUpdate(t *testing.T, ch <-chan flows.Update, kind string) flows.Update {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed waiting for %s", kind)
			}
			if u.Kind == kind {
				return u
			}
		case <-timeout:
			t.Fatalf("no %s update within 5 s", kind)
		}
	}
}

// nextCounts waits for counts satisfying ok.
func nextCounts(t *testing.T, ch <-chan flows.Counts, what string, ok func(flows.Counts) bool) flows.Counts {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case c, open := <-ch:
			if !open {
				t.Fatalf("lists subscription closed waiting for %s", what)
			}
			if ok(c) {
				return c
			}
		case <-timeout:
			t.Fatalf("lists never showed %s", what)
		}
	}
}

func TestLiveProgressTrailContacts(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupLive(t, b)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		as := func(who string) context.Context { return viewer.NewContext(ctx, e.users[who]) }
		aliceIP := viewer.WithClient(as("alice"), viewer.Client{IP: "203.0.113.7", UserAgent: "test"})

		f, doc := e.draft(t, "技术服务合同")

		// Before sending, the draft is the initiator's alone.
		watch, err := e.svc.WatchFlow(as("alice"), f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if u := nextUpdate(t, watch, flows.KindSubscribed); u.Status != flow.StatusDraft {
			t.Fatalf("first update = %+v", u)
		}
		for _, who := range []string{"bob", "mallory"} {
			_, err := e.svc.WatchFlow(as(who), f.ID)
			wantCode(t, err, errs.NotFound, "合同不存在")
			_, err = e.svc.Trail(as(who), f.ID, 0, 10)
			wantCode(t, err, errs.NotFound, "合同不存在")
		}
		_, err = e.svc.WatchFlow(context.Background(), f.ID)
		wantCode(t, err, errs.Unauthenticated, "请先登录")
		_, err = e.svc.WatchLists(context.Background())
		wantCode(t, err, errs.Unauthenticated, "请先登录")

		bobLists, err := e.svc.WatchLists(as("bob"))
		if err != nil {
			t.Fatal(err)
		}
		nextCounts(t, bobLists, "empty 待办", func(c flows.Counts) bool { return c[flows.ListTodo] == 0 })
		carolLists, err := e.svc.WatchLists(as("carol"))
		if err != nil {
			t.Fatal(err)
		}
		nextCounts(t, carolLists, "empty 待办", func(c flows.Counts) bool { return c[flows.ListTodo] == 0 })

		// Sending reaches the initiator's flow watch and bob's 待办.
		if _, err := e.svc.Send(aliceIP, f.ID); err != nil {
			t.Fatal(err)
		}
		if u := nextUpdate(t, watch, string(audit.FlowSent)); u.Status != flow.StatusSigning || u.FlowID != f.ID {
			t.Fatalf("sent update = %+v", u)
		}
		nextCounts(t, bobLists, "待办 1", func(c flows.Counts) bool { return c[flows.ListTodo] == 1 })

		// Parties may follow it now; the outsider still may not.
		bobWatch, err := e.svc.WatchFlow(as("bob"), f.ID)
		if err != nil {
			t.Fatal(err)
		}
		nextUpdate(t, bobWatch, flows.KindSubscribed)
		if _, err := e.svc.Progress(as("zhao"), f.ID); err != nil {
			t.Fatalf("the CC reads progress: %v", err)
		}
		_, err = e.svc.Progress(as("mallory"), f.ID)
		wantCode(t, err, errs.NotFound, "合同不存在")
		_, err = e.svc.VerifyTrail(as("mallory"), f.ID)
		wantCode(t, err, errs.NotFound, "合同不存在")
		_, err = e.svc.WatchFlow(as("mallory"), f.ID)
		wantCode(t, err, errs.NotFound, "合同不存在")

		// Viewing: recorded once per party, never for outsiders.
		if ok, err := e.svc.MarkViewed(as("bob"), f.ID); err != nil || !ok {
			t.Fatalf("bob views: %v %v", ok, err)
		}
		if u := nextUpdate(t, watch, string(audit.ParticipantViewed)); u.SubjectID == 0 {
			t.Fatalf("viewed update = %+v", u)
		}
		if ok, err := e.svc.MarkViewed(as("bob"), f.ID); err != nil || ok {
			t.Fatalf("bob views again: %v %v, want not recorded", ok, err)
		}
		if ok, err := e.svc.MarkViewed(as("alice"), f.ID); err != nil || ok {
			t.Fatalf("the initiator's view: %v %v, want not recorded", ok, err)
		}
		_, err = e.svc.MarkViewed(as("mallory"), f.ID)
		wantCode(t, err, errs.NotFound, "合同不存在")

		// Progress: signers in order, then CC; phones masked.
		p, err := e.svc.Progress(as("carol"), f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Parties) != 3 || p.Parties[0].Name != "王小明" || p.Parties[1].Name != "李四" || p.Parties[2].Role != participant.RoleCc {
			t.Fatalf("parties = %+v", p.Parties)
		}
		bobP, carolP := p.Parties[0], p.Parties[1]
		if bobP.Status != participant.StatusPending || bobP.ViewedAt == nil || bobP.MaskedPhone != "138****0002" || bobP.Mine {
			t.Fatalf("bob's progress = %+v", bobP)
		}
		if carolP.Status != participant.StatusWaiting || carolP.ViewedAt != nil || !carolP.Mine {
			t.Fatalf("carol's progress = %+v", carolP)
		}

		// Bob signs: the flow watchers see it, bob's 待办 empties, carol's fills.
		if _, err := e.sign(t, "bob", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []<-chan flows.Update{watch, bobWatch} {
			nextUpdate(t, ch, string(audit.DocumentSigned))
			if u := nextUpdate(t, ch, string(audit.ParticipantSigned)); u.Status != flow.StatusSigning {
				t.Fatalf("signed update = %+v", u)
			}
			nextUpdate(t, ch, string(audit.ParticipantNotified))
		}
		nextCounts(t, bobLists, "待办 0 已办 1", func(c flows.Counts) bool { return c[flows.ListTodo] == 0 && c[flows.ListDone] == 1 })
		nextCounts(t, carolLists, "待办 1", func(c flows.Counts) bool { return c[flows.ListTodo] == 1 })

		// Carol signs last: completed.
		waitSMS(t, e.outbox, e.users["carol"].Phone)
		if _, err := e.sign(t, "carol", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"],
			Placements: []flows.Placement{{DocumentID: doc.ID, Kind: "personal_seal", Page: 1, X: 300, Y: 80, Width: 100, Height: 40}}}); err != nil {
			t.Fatal(err)
		}
		if u := nextUpdate(t, watch, string(audit.FlowCompleted)); u.Status != flow.StatusCompleted {
			t.Fatalf("completed update = %+v", u)
		}
		nextCounts(t, carolLists, "已完成 1", func(c flows.Counts) bool { return c[flows.ListTodo] == 0 && c[flows.ListCompleted] == 1 })

		// The trail: every step, names instead of IDs, other people's IPs masked.
		var all []flows.TrailEntry
		var after int64
		for pages := 0; ; pages++ {
			page, err := e.svc.Trail(as("bob"), f.ID, after, 4)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Entries) == 0 || len(page.Entries) > 4 {
				t.Fatalf("page %d has %d entries", pages, len(page.Entries))
			}
			all = append(all, page.Entries...)
			if page.Next == 0 {
				break
			}
			after = page.Next
		}
		var actions []string
		for i, te := range all {
			if te.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d", i, te.Seq)
			}
			if i > 0 && te.PrevHash != all[i-1].Hash {
				t.Fatalf("entry %d does not chain to the one before", i)
			}
			actions = append(actions, string(te.Action))
			switch te.Action {
			case audit.FlowSent:
				if te.IP != "203.0.*.*" || te.Subject != "技术服务合同" {
					t.Errorf("sent entry as bob sees it = %+v", te)
				}
			case audit.ParticipantSigned:
				if te.Actor != te.Subject || (te.Actor != "王小明" && te.Actor != "李四") {
					t.Errorf("signed entry = %+v", te)
				}
			case audit.ParticipantViewed:
				if te.Actor != "王小明" || te.Subject != "王小明" {
					t.Errorf("viewed entry = %+v", te)
				}
			case audit.DocumentSigned:
				if te.Subject != doc.Name {
					t.Errorf("document entry = %+v", te)
				}
			case audit.FlowCompleted:
				if te.Actor != "系统" {
					t.Errorf("completed entry = %+v", te)
				}
			}
		}
		want := []string{"flow.created", "flow.document_added", "flow.updated", "flow.sent", "participant.notified",
			"participant.viewed", "document.signed", "participant.signed", "participant.notified", "document.signed",
			"participant.signed", "flow.completed"}
		for _, w := range want {
			i := indexOf(actions, w)
			if i < 0 {
				t.Fatalf("trail %v lacks %s", actions, w)
			}
			actions = actions[i+1:]
		}
		page, err := e.svc.Trail(aliceIP, f.ID, 3, 1)
		if err != nil || len(page.Entries) != 1 || page.Entries[0].Action != audit.FlowSent || page.Entries[0].IP != "203.0.113.7" {
			t.Fatalf("alice's own sent entry = %+v %v", page, err)
		}
		_, err = e.svc.Trail(as("bob"), f.ID, 0, 0)
		wantCode(t, err, errs.Invalid, "每页条数")
		_, err = e.svc.Trail(as("bob"), f.ID, -1, 10)
		wantCode(t, err, errs.Invalid, "分页参数")

		// The chain verifies, and an edited row is caught.
		rep, err := e.svc.VerifyTrail(as("zhao"), f.ID)
		if err != nil || !rep.OK() || rep.Events != len(all) {
			t.Fatalf("verify = %+v %v", rep, err)
		}
		if _, err := e.database.SQL.ExecContext(ctx, fmt.Sprintf(
			"UPDATE audit_events SET actor_name = 'forged' WHERE chain = '%s' AND seq = 4", audit.FlowChain(f.ID))); err != nil {
			t.Fatal(err)
		}
		rep, err = e.svc.VerifyTrail(as("alice"), f.ID)
		if err != nil || rep.OK() || rep.Problems[0].Seq != 4 || rep.Problems[0].Kind != audit.Edited {
			t.Fatalf("verify after an edit = %+v %v", rep, err)
		}

		// Contacts: each party has every other signer, the initiator everyone,
		// nobody themselves; the outsider nothing.
		wantContacts := map[string][]string{
			"alice": {"13800000002", "13800000003", "13900000004"},
			"bob":   {"13800000003"},
			"carol": {"13800000002"},
			"zhao":  {"13800000002", "13800000003"},
		}
		for who, phones := range wantContacts {
			q, err := e.contacts.Query(as(who), contacts.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			cs, err := q.Order(contact.ByPhone()).All(as(who))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cs {
				got = append(got, c.Phone)
				if c.Source != contact.SourceAuto {
					t.Errorf("%s's contact %s has source %s", who, c.Phone, c.Source)
				}
			}
			if strings.Join(got, ",") != strings.Join(phones, ",") {
				t.Errorf("%s's contacts = %v, want %v", who, got, phones)
			}
		}
		if n, _ := e.db.Contact.Query().Count(as("mallory")); n != 0 {
			t.Errorf("mallory sees %d contacts", n)
		}

		// Unsubscribing ends the goroutines and the broker's subscriptions.
		cancel()
		for _, ch := range []<-chan flows.Update{watch, bobWatch} {
			for range ch {
			}
		}
		for range bobLists {
		}
		for range carolLists {
		}
		deadline := time.Now().Add(2 * time.Second)
		for e.broker.Subscribers() != 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := e.broker.Subscribers(); n != 0 {
			t.Fatalf("%d subscriptions left after cancel", n)
		}
	})
}

// TestRolledBackTransitionIsNotPublished deletes a draft together with an
// unknown flow: the batch fails, so nothing is announced and the draft stays.
func TestRolledBackTransitionIsNotPublished(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupLive(t, b)
		ctx, cancel := context.WithCancel(e.as("alice"))
		defer cancel()
		f, _ := e.draft(t, "草稿")
		watch, err := e.svc.WatchFlow(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		nextUpdate(t, watch, flows.KindSubscribed)
		err = e.svc.Delete(e.as("alice"), []int{f.ID, f.ID + 100000})
		wantCode(t, err, errs.NotFound, "合同不存在")
		select {
		case u := <-watch:
			t.Fatalf("a rolled-back delete was announced: %+v", u)
		case <-time.After(300 * time.Millisecond):
		}
		// The same delete alone commits and is announced; the watch ends.
		if err := e.svc.Delete(e.as("alice"), []int{f.ID}); err != nil {
			t.Fatal(err)
		}
		nextUpdate(t, watch, string(audit.FlowDeleted))
		select {
		case _, ok := <-watch:
			if ok {
				t.Fatal("the watch of a deleted flow goes on")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the watch of a deleted flow did not end")
		}
	})
}

// TestWatchFlowFunc checks what a transport keeping its own channel relies
// on (server/gqlws.Stream): the first update is sent before WatchFlowFunc
// returns, every update after it once, done once at the end and nothing
// after done.
func TestWatchFlowFunc(t *testing.T) {
	e := setupLive(t, dbtest.SQLite(t))
	f, _ := e.draft(t, "通知")
	ctx, cancel := context.WithCancel(e.as("alice"))
	defer cancel()
	var mu sync.Mutex
	var got []string
	var ended int
	updates := make(chan flows.Update, 10)
	err := e.svc.WatchFlowFunc(ctx, f.ID, func(u flows.Update) bool {
		mu.Lock()
		defer mu.Unlock()
		if ended > 0 {
			t.Errorf("update %s after done", u.Kind)
		}
		got = append(got, u.Kind)
		updates <- u
		return true
	}, func() {
		mu.Lock()
		ended++
		mu.Unlock()
		close(updates)
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(got) != 1 || got[0] != flows.KindSubscribed {
		t.Fatalf("on return got %v, want the first update", got)
	}
	mu.Unlock()
	nextUpdate(t, updates, flows.KindSubscribed)
	for i := 0; i < 3; i++ {
		if err := e.broker.Publish(ctx, events.Event{Topic: events.FlowTopic(f.ID), Kind: "flow.sent", ID: f.ID}); err != nil {
			t.Fatal(err)
		}
		nextUpdate(t, updates, "flow.sent")
	}
	cancel()
	for range updates {
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if ended != 1 || len(got) != 4 {
		t.Fatalf("done called %d times after %v, want once after 4 updates", ended, got)
	}
	if err := e.svc.WatchFlowFunc(e.as("mallory"), f.ID, func(flows.Update) bool { return true }, func() {}); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("an outsider watching: %v, want NotFound", err)
	}
}

// TestSlowSubscriberIsDropped checks that a watcher who never reads is
// dropped instead of holding up the publishers or the other watchers.
func TestSlowSubscriberIsDropped(t *testing.T) {
	e := setupLive(t, dbtest.SQLite(t))
	f, _ := e.draft(t, "慢订阅")
	ctx, cancel := context.WithCancel(e.as("alice"))
	defer cancel()
	slow, err := e.svc.WatchFlow(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := e.svc.WatchFlow(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	nextUpdate(t, slow, flows.KindSubscribed)
	// Nobody reads slow from here on: publishing must neither block nor
	// fail, the fast watcher gets every update, and slow is dropped.
	start := time.Now()
	const n = 3 * events.DefaultBuffer
	got := 0
	for i := 0; i < n; i++ {
		if err := e.broker.Publish(ctx, events.Event{Topic: events.FlowTopic(f.ID), Kind: "flow.sent", ID: f.ID}); err != nil {
			t.Fatal(err)
		}
		nextUpdate(t, fast, "flow.sent")
		got++
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("publishing past a stuck watcher took %v", d)
	}
	read := 0
	for range slow {
		read++
	}
	if read >= n {
		t.Fatalf("the stuck watcher was never dropped (read %d of %d)", read, n)
	}
	if got != n {
		t.Fatalf("the fast watcher got %d of %d", got, n)
	}
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
