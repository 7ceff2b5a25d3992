package events_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/audit"
	"signet/database"
	"signet/events"
	"signet/internal/dbtest"
	"signet/viewer"
)

func recv(t testing.TB, ch <-chan events.Event) events.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("channel closed, want an event")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return events.Event{}
}

func quiet(t testing.TB, ch <-chan events.Event, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("unexpected event %+v", ev)
		}
		t.Fatal("unexpected close")
	case <-time.After(d):
	}
}

func closed(t testing.TB, ch <-chan events.Event) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed within 5s")
		}
	}
}

// settle waits until the goroutine count is back to at most base.
func settle(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLocalFanOut(t *testing.T) {
	b := events.NewLocal(8, nil)
	ctx := context.Background()
	a1, c1 := b.Subscribe(ctx, "flow:1")
	a2, c2 := b.Subscribe(ctx, "flow:1")
	other, c3 := b.Subscribe(ctx, "flow:2")
	defer c1()
	defer c2()
	defer c3()
	ev := events.Event{Topic: "flow:1", Kind: "participant.signed", ID: 5}
	if err := b.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for i, ch := range []<-chan events.Event{a1, a2} {
		if got := recv(t, ch); got != ev {
			t.Errorf("subscriber %d got %+v, want %+v", i, got, ev)
		}
	}
	quiet(t, other, 50*time.Millisecond)
	if err := b.Publish(ctx, events.Event{Topic: "", Kind: "x"}); err == nil {
		t.Error("published an event without a topic")
	}
}

func TestLocalCancelAndContext(t *testing.T) {
	base := runtime.NumGoroutine()
	b := events.NewLocal(8, nil)
	ctx, cancel := context.WithCancel(context.Background())
	byCtx, _ := b.Subscribe(ctx, "t")
	byCancel, stop := b.Subscribe(context.Background(), "t")
	stop()
	stop() // twice is fine
	closed(t, byCancel)
	cancel()
	closed(t, byCtx)
	if n := b.Subscribers(); n != 0 {
		t.Errorf("%d subscribers left", n)
	}
	// Many subscriptions that end by context leave no goroutine behind.
	for i := 0; i < 100; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		ch, _ := b.Subscribe(ctx, "t")
		b.Publish(context.Background(), events.Event{Topic: "t", Kind: "k"})
		cancel()
		closed(t, ch)
	}
	// Subscribing with a context that is already done closes at once.
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	ch, _ := b.Subscribe(done, "t")
	closed(t, ch)
	b.Close()
	ch, _ = b.Subscribe(context.Background(), "t")
	closed(t, ch)
	settle(t, base)
}

func TestLocalSlowSubscriberIsDropped(t *testing.T) {
	b := events.NewLocal(4, nil)
	ctx := context.Background()
	slow, c1 := b.Subscribe(ctx, "t")
	defer c1()
	fast, c2 := b.Subscribe(ctx, "t")
	defer c2()
	var got []int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range fast {
			got = append(got, ev.ID)
			if ev.ID == 99 {
				return
			}
		}
	}()
	start := time.Now()
	for i := 0; i < 100; i++ {
		// Pace the publisher a little so the fast reader keeps up.
		if err := b.Publish(ctx, events.Event{Topic: "t", Kind: "k", ID: i}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("publishing took %v: a slow subscriber blocked the publisher", d)
	}
	wg.Wait()
	if len(got) != 100 {
		t.Errorf("fast subscriber got %d events, want 100", len(got))
	}
	// The slow one holds its buffer, then the channel is closed.
	n := 0
	for range slow {
		n++
	}
	if n != 4 {
		t.Errorf("slow subscriber kept %d events, want its buffer of 4", n)
	}
	if b.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", b.Dropped())
	}
}

func TestAfterCommit(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, be dbtest.Backend) {
		db := dbtest.Open(t, be)
		b := events.NewLocal(8, nil)
		ctx := context.Background()
		ch, cancel := b.Subscribe(ctx, "flow:1")
		defer cancel()

		// Rolled back: nothing is published.
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: "flow:1", Actor: audit.System(), Action: audit.FlowSent}); err != nil {
			t.Fatal(err)
		}
		events.AfterCommit(tx, b, events.Event{Topic: "flow:1", Kind: "rolled-back"})
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		// Committed: published after the commit, and the subscriber can read
		// the committed row when the event arrives.
		tx, err = db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e, err := audit.Append(ctx, tx, audit.Event{Chain: "flow:1", Actor: audit.System(), Action: audit.FlowSent})
		if err != nil {
			t.Fatal(err)
		}
		events.AfterCommit(tx, b, events.Event{Topic: "flow:1", Kind: "committed", ID: e.ID})
		quiet(t, ch, 20*time.Millisecond) // not before commit
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		got := recv(t, ch)
		if got.Kind != "committed" || got.ID != e.ID {
			t.Fatalf("got %+v", got)
		}
		if _, err := db.Client.AuditEvent.Get(viewer.System(ctx), got.ID); err != nil {
			t.Errorf("the event's row is not readable: %v", err)
		}
		quiet(t, ch, 50*time.Millisecond)
	})
}

func newPostgres(t testing.TB, db *database.DB, url string) *events.Postgres {
	t.Helper()
	p, err := events.NewPostgres(events.PostgresConfig{URL: url, DB: db.SQL, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("listener not ready")
	}
	return p
}

func TestPostgresAcrossBrokers(t *testing.T) {
	be := dbtest.Postgres(t)
	db := dbtest.Open(t, be)
	base := runtime.NumGoroutine()
	a := newPostgres(t, db, be.DatabaseURL)
	b := newPostgres(t, db, be.DatabaseURL)
	ctx := context.Background()
	onB, cancelB := b.Subscribe(ctx, "flow:7")
	defer cancelB()
	onA, cancelA := a.Subscribe(ctx, "flow:7")
	defer cancelA()

	ev := events.Event{Topic: "flow:7", Kind: "participant.signed", ID: 12}
	if err := a.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, onB); got != ev {
		t.Errorf("broker B got %+v", got)
	}
	if got := recv(t, onA); got != ev {
		t.Errorf("broker A (the publisher) got %+v", got)
	}

	// After commit, through PostgreSQL; a rollback publishes nothing.
	for _, commit := range []bool{false, true} {
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		events.AfterCommit(tx, a, events.Event{Topic: "flow:7", Kind: "tx", ID: map[bool]int{false: 1, true: 2}[commit]})
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := recv(t, onB); got.ID != 2 {
		t.Errorf("after commit/rollback got %+v, want only the committed one", got)
	}
	quiet(t, onB, 100*time.Millisecond)

	// Several in one statement, in order; an invalid one is refused and
	// the others still go out.
	batch := []events.Event{{Topic: "flow:7", Kind: "a", ID: 1}, {Topic: "", Kind: "invalid"}, {Topic: "flow:7", Kind: "b", ID: 2}, {Topic: "flow:7", Kind: "c", ID: 3}}
	if err := a.PublishAll(ctx, batch); !errors.Is(err, events.ErrInvalid) {
		t.Errorf("PublishAll with an invalid event: %v, want ErrInvalid", err)
	}
	for _, want := range []events.Event{batch[0], batch[2], batch[3]} {
		if got := recv(t, onB); got != want {
			t.Errorf("PublishAll: broker B got %+v, want %+v", got, want)
		}
	}
	if err := a.PublishAll(ctx, batch[3:]); err != nil {
		t.Errorf("PublishAll of one: %v", err)
	}
	if got := recv(t, onB); got != batch[3] {
		t.Errorf("PublishAll of one: got %+v", got)
	}
	quiet(t, onB, 100*time.Millisecond)

	// Payloads stay under PostgreSQL's limit.
	if err := a.Publish(ctx, events.Event{Topic: "t", Kind: strings.Repeat("k", 150)}); err != nil {
		t.Errorf("a normal event was refused: %v", err)
	}
	recvTopic := strings.Repeat("x", events.MaxTopic+1)
	if err := a.Publish(ctx, events.Event{Topic: recvTopic, Kind: "k"}); err == nil {
		t.Error("an oversized event was published")
	}

	cancelA()
	cancelB()
	a.Close()
	b.Close()
	settle(t, base)
}

func TestPostgresReconnects(t *testing.T) {
	be := dbtest.Postgres(t)
	db := dbtest.Open(t, be)
	p := newPostgres(t, db, be.DatabaseURL)
	ctx := context.Background()
	ch, cancel := p.Subscribe(ctx, "flow:1")
	defer cancel()
	// Kill the listening connection from outside.
	res, err := db.SQL.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("terminated %d listeners, want 1", n)
	}
	if got := recv(t, ch); got.Kind != events.KindResync || got.Topic != "flow:1" {
		t.Fatalf("after reconnecting got %+v, want a resync", got)
	}
	ev := events.Event{Topic: "flow:1", Kind: "k", ID: 3}
	if err := p.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch); got != ev {
		t.Errorf("after reconnecting got %+v", got)
	}
}
