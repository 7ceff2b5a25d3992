package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"signet/audit"
	"signet/database"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/events"
	"signet/internal/dbtest"
	"signet/jobs"
	"signet/viewer"
)

type pingArgs struct {
	N int `json:"n"`
}

func (pingArgs) Kind() string { return "test_ping" }

type done struct {
	n       int
	attempt int
	at      time.Time
}

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	got      chan done
	failures int // fail this many attempts first
	block    chan struct{}
	started  chan struct{}
}

func (w *pingWorker) Work(ctx context.Context, job *river.Job[pingArgs]) error {
	if w.started != nil {
		w.started <- struct{}{}
	}
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if job.Attempt <= w.failures {
		return errors.New("deliberate failure")
	}
	w.got <- done{n: job.Args.N, attempt: job.Attempt, at: time.Now()}
	return nil
}

// quickRetry retries after 100 ms.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(100 * time.Millisecond)
}

func openDB(t testing.TB, b dbtest.Backend) *database.DB {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Open(t, b)
	if err := jobs.Migrate(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	return db
}

func startQueue(t testing.TB, db *database.DB, w *pingWorker) *jobs.Queue {
	t.Helper()
	q, err := jobs.New(jobs.Config{DB: db, PollInterval: 50 * time.Millisecond, RetryPolicy: quickRetry{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.AddWorker(q, w); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return q
}

func wait(t testing.TB, ch <-chan done, d time.Duration) done {
	t.Helper()
	select {
	case got := <-ch:
		return got
	case <-time.After(d):
		t.Fatalf("no job ran within %v", d)
	}
	return done{}
}

func countJobs(t testing.TB, db *database.DB) int {
	t.Helper()
	var n int
	if err := db.SQL.QueryRow(`SELECT count(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCommittedJobRunsRolledBackNever(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := openDB(t, b)
		w := &pingWorker{got: make(chan done, 10)}
		q := startQueue(t, db, w)
		ctx := context.Background()
		broker := events.NewLocal(4, nil)
		evs, cancel := broker.Subscribe(ctx, "flow:1")
		defer cancel()

		insert := func(n int, fail bool) error {
			return jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
				if _, err := audit.Append(ctx, tx, audit.Event{Chain: "flow:1", Actor: audit.System(), Action: audit.FlowSent}); err != nil {
					return err
				}
				events.AfterCommit(tx, broker, events.Event{Topic: "flow:1", Kind: "sent", ID: n})
				if err := q.InsertTx(ctx, jtx, pingArgs{N: n}, nil); err != nil {
					return err
				}
				if fail {
					return errors.New("domain failure after the insert")
				}
				return nil
			})
		}
		if err := insert(1, true); err == nil || !strings.Contains(err.Error(), "domain failure") {
			t.Fatalf("rolled-back WithTx returned %v", err)
		}
		if err := insert(2, false); err != nil {
			t.Fatal(err)
		}
		if got := wait(t, w.got, 10*time.Second); got.n != 2 {
			t.Fatalf("ran job %d, want 2 (the rolled-back one must never run)", got.n)
		}
		select {
		case got := <-w.got:
			t.Fatalf("another job ran: %+v", got)
		case <-time.After(300 * time.Millisecond):
		}
		// One job row, one audit row, one event: the rolled-back transaction
		// left nothing.
		if n := countJobs(t, db); n != 1 {
			t.Errorf("%d job rows, want 1", n)
		}
		if n := db.Client.AuditEvent.Query().Where(auditevent.Chain("flow:1")).CountX(viewer.System(ctx)); n != 1 {
			t.Errorf("%d audit rows, want 1", n)
		}
		select {
		case ev := <-evs:
			if ev.ID != 2 {
				t.Errorf("event %+v, want the committed one", ev)
			}
		case <-time.After(time.Second):
			t.Error("AfterCommit did not publish through WithTx")
		}
	})
}

func TestWithTxRollsBackOnPanic(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := openDB(t, b)
		q, err := jobs.New(jobs.Config{DB: db})
		if err != nil {
			t.Fatal(err)
		}
		if err := jobs.AddWorker(q, &pingWorker{}); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the panic was swallowed")
				}
			}()
			jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
				if err := q.InsertTx(ctx, jtx, pingArgs{N: 1}, nil); err != nil {
					t.Fatal(err)
				}
				panic("boom")
			})
		}()
		if n := countJobs(t, db); n != 0 {
			t.Errorf("%d job rows after a panic, want 0", n)
		}
		// The connection went back to the pool in a usable state.
		if err := jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
			err := q.InsertTx(ctx, jtx, pingArgs{N: 2}, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n := countJobs(t, db); n != 1 {
			t.Errorf("%d job rows, want 1", n)
		}
		// Registration is closed once the queue inserted.
		if err := jobs.AddWorker(q, &otherWorker{}); !errors.Is(err, jobs.ErrRegistrationClosed) {
			t.Errorf("late AddWorker: %v", err)
		}
	})
}

type otherArgs struct{}

func (otherArgs) Kind() string { return "test_other" }

type otherWorker struct {
	river.WorkerDefaults[otherArgs]
}

func (otherWorker) Work(context.Context, *river.Job[otherArgs]) error { return nil }

func TestScheduledJobRunsAfterItsTime(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := openDB(t, b)
		w := &pingWorker{got: make(chan done, 10)}
		q := startQueue(t, db, w)
		ctx := context.Background()
		at := time.Now().Add(1500 * time.Millisecond)
		if err := jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
			err := q.InsertTx(ctx, jtx, pingArgs{N: 7}, &river.InsertOpts{ScheduledAt: at})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		got := wait(t, w.got, 15*time.Second)
		if got.at.Before(at) {
			t.Errorf("ran at %v, before its time %v", got.at, at)
		}
		t.Logf("scheduled job ran %v late", got.at.Sub(at))
	})
}

func TestFailingJobRetries(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := openDB(t, b)
		w := &pingWorker{got: make(chan done, 10), failures: 2}
		q := startQueue(t, db, w)
		ctx := context.Background()
		res, err := q.Insert(ctx, pingArgs{N: 3}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := wait(t, w.got, 15*time.Second)
		if got.attempt != 3 {
			t.Errorf("succeeded on attempt %d, want 3", got.attempt)
		}
		c, _ := q.Client()
		deadline := time.Now().Add(5 * time.Second)
		for {
			job, err := c.JobGet(ctx, res.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if job.State == rivertype.JobStateCompleted {
				if len(job.Errors) != 2 {
					t.Errorf("%d recorded errors, want 2", len(job.Errors))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job state %s, want completed", job.State)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestStopWaitsForRunningJobs(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := openDB(t, b)
		w := &pingWorker{got: make(chan done, 10), block: make(chan struct{}), started: make(chan struct{}, 1)}
		q, err := jobs.New(jobs.Config{DB: db, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := jobs.AddWorker(q, w); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Insert(ctx, pingArgs{N: 1}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.started:
		case <-time.After(10 * time.Second):
			t.Fatal("job did not start")
		}
		var stopped atomic.Bool
		stopErr := make(chan error, 1)
		go func() {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			stopErr <- q.Stop(sctx)
			stopped.Store(true)
		}()
		time.Sleep(200 * time.Millisecond)
		if stopped.Load() {
			t.Fatal("Stop returned while a job was running")
		}
		close(w.block)
		if err := <-stopErr; err != nil {
			t.Fatal(err)
		}
		if got := wait(t, w.got, time.Second); got.n != 1 {
			t.Errorf("job %d", got.n)
		}
	})
}

func TestMigratePlan(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		db, err := database.Open(ctx, b.DatabaseURL, b.SQLitePath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var plan bytes.Buffer
		pending, err := jobs.PlanMigration(ctx, db, &plan)
		if err != nil {
			t.Fatal(err)
		}
		if !pending || !strings.Contains(plan.String(), "river_job") {
			t.Fatalf("pending %v, plan:\n%.300s", pending, plan.String())
		}
		// The dry run applied nothing.
		if pending, _ := jobs.PlanMigration(ctx, db, nil); !pending {
			t.Fatal("the dry run applied the migrations")
		}
		for i := 0; i < 2; i++ { // idempotent
			if err := jobs.Migrate(ctx, db, nil); err != nil {
				t.Fatal(err)
			}
		}
		if pending, err := jobs.PlanMigration(ctx, db, nil); err != nil || pending {
			t.Fatalf("after migrating: pending %v, %v", pending, err)
		}
	})
}

// TestRowsOutliveTheTransaction: a row created in WithTx and returned can
// still load its edges after the commit (they are read from the pool, not
// the finished transaction), and sees what the transaction committed.
func TestRowsOutliveTheTransaction(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := openDB(t, b)
		ctx := viewer.System(context.Background())
		var seal *ent.Seal
		if err := jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
			u, err := tx.User.Create().SetPhone("13800000001").SetName("王小明").Save(ctx)
			if err != nil {
				return err
			}
			seal, err = tx.Seal.Create().SetUserID(u.ID).SetKind("personal").SetName("王小明").
				SetImage([]byte{1}).SetWidth(1).SetHeight(1).SetSource("generated").Save(ctx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		u, err := seal.QueryUser().Only(ctx)
		if err != nil || u.Phone != "13800000001" {
			t.Fatalf("the seal's user after the commit: %v %+v", err, u)
		}
		// A rolled-back transaction's rows read what the database holds:
		// nothing of theirs.
		var gone *ent.User
		failed := errors.New("roll back")
		if err := jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
			gone, err = tx.User.Create().SetPhone("13800000002").SetName("李四").Save(ctx)
			if err != nil {
				return err
			}
			return failed
		}); !errors.Is(err, failed) {
			t.Fatal(err)
		}
		if n, err := gone.QuerySessions().Count(ctx); err != nil || n != 0 {
			t.Fatalf("a rolled-back row's edges: %d, %v", n, err)
		}
	})
}

// TestJobsOfOneTransactionInsertTogether: the jobs one WithTx queues are
// inserted together when its function returns — all of them run once it
// commits — and an insert that fails then (a kind no worker runs) fails
// WithTx and rolls the whole transaction back.
func TestJobsOfOneTransactionInsertTogether(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := openDB(t, b)
		w := &pingWorker{got: make(chan done, 10)}
		q := startQueue(t, db, w)
		ctx := context.Background()
		if err := jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
			for n := range 3 {
				if err := q.InsertTx(ctx, jtx, pingArgs{N: n}, nil); err != nil {
					return err
				}
			}
			// Queued, not inserted yet: the transaction sees no job row.
			var rows int
			if err := jtx.SQL().QueryRowContext(ctx, "SELECT count(*) FROM river_job").Scan(&rows); err != nil || rows != 0 {
				return fmt.Errorf("%d job rows before the function returned (%v)", rows, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		ran := map[int]bool{}
		for range 3 {
			ran[wait(t, w.got, 10*time.Second).n] = true
		}
		if len(ran) != 3 {
			t.Fatalf("ran %v, want jobs 0, 1 and 2", ran)
		}

		err := jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
			if _, err := audit.Append(ctx, tx, audit.Event{Chain: "flow:9", Actor: audit.System(), Action: audit.FlowSent}); err != nil {
				return err
			}
			if err := q.InsertTx(ctx, jtx, pingArgs{N: 9}, nil); err != nil {
				return err
			}
			err := q.InsertTx(ctx, jtx, otherArgs{}, nil)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), "test_other") {
			t.Fatalf("WithTx with an unknown kind queued: %v", err)
		}
		if n := countJobs(t, db); n != 3 {
			t.Errorf("%d job rows, want the first three", n)
		}
		if n := db.Client.AuditEvent.Query().Where(auditevent.Chain("flow:9")).CountX(viewer.System(ctx)); n != 0 {
			t.Errorf("%d audit rows of the failed transaction", n)
		}
	})
}
