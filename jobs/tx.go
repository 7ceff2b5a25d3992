package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"signet/database"
	"signet/ent"
)

// WithTx runs fn in one database transaction seen two ways: tx for ent rows
// (with ent's hooks, privacy rules and commit hooks such as
// events.AfterCommit) and jtx for Queue.InsertTx. It commits when fn returns
// nil and rolls back when fn fails or panics. On SQLite the transaction takes
// the write lock at BEGIN (the DSN asks for BEGIN IMMEDIATE). The jobs fn
// queues with Queue.InsertTx are inserted together, in one statement, when
// fn returns.
//
//	err := jobs.WithTx(ctx, db, func(tx *ent.Tx, jtx jobs.JobTx) error {
//		f, err := tx.Flow.UpdateOneID(id).SetStatus(flow.StatusSigning).Save(ctx)
//		if err != nil {
//			return err
//		}
//		if _, err := audit.Append(ctx, tx, audit.Event{…}); err != nil {
//			return err
//		}
//		events.AfterCommit(tx, broker, events.Event{Topic: events.FlowTopic(id), Kind: "flow.sent", ID: id})
//		return queue.InsertTx(ctx, jtx, NotifyArgs{FlowID: id}, nil)
//	})
//
// How: ent cannot hand out the *sql.Tx under an *ent.Tx, so WithTx begins
// the *sql.Tx itself and builds a short-lived ent client whose driver runs
// on it and whose "transaction" commits or rolls back that *sql.Tx. Options
// given to the application's ent client (a debug logger) do not carry over.
//
// Rows read or written in fn stay usable after WithTx returns: once the
// transaction has ended, their queries (loading an edge, say) run on the
// pool instead of the finished *sql.Tx, outside any transaction.
func WithTx(ctx context.Context, db *database.DB, fn func(tx *ent.Tx, jtx JobTx) error) (err error) {
	// On SQLite the transaction waits for the process's write lock at
	// BEGIN and gives it back at COMMIT or ROLLBACK — before ent's commit
	// hooks run (live updates read who to tell), so the next writer need not
	// wait for them (database/writelock.go).
	stx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: begin: %w", err)
	}
	sw := &switching{tx: stx, pool: db.SQL}
	client := ent.NewClient(ent.Driver(&txDriver{Driver: entsql.NewDriver(db.Dialect, entsql.Conn{ExecQuerier: sw}), sw: sw}))
	db.Configure(client)
	tx, err := client.Tx(ctx)
	if err != nil {
		stx.Rollback()
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	jtx := JobTx{tx: stx, buf: &insertBuffer{}}
	err = fn(tx, jtx)
	if err == nil {
		err = jtx.flush(ctx)
	}
	if err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return fmt.Errorf("%w (rollback: %v)", err, rerr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("jobs: commit: %w", err)
	}
	return nil
}

// txDriver is an ent driver bound to one *sql.Tx: queries run on it, and
// the transaction ent opens on it is that *sql.Tx itself.
type txDriver struct {
	*entsql.Driver
	sw *switching
}

// Tx returns the bound transaction.
func (d *txDriver) Tx(context.Context) (dialect.Tx, error) {
	return &entsql.Tx{Conn: entsql.Conn{ExecQuerier: d.sw}, Tx: endingTx{d.sw}}, nil
}

// switching runs statements on the transaction until it has ended, then on
// the pool: rows handed out of WithTx keep working.
type switching struct {
	tx    *sql.Tx
	pool  *sql.DB
	ended atomic.Bool
}

func (s *switching) on() entsql.ExecQuerier {
	if s.ended.Load() {
		return s.pool
	}
	return s.tx
}

func (s *switching) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.on().ExecContext(ctx, query, args...)
}

func (s *switching) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.on().QueryContext(ctx, query, args...)
}

// endingTx commits or rolls back the *sql.Tx and then switches to the pool.
type endingTx struct{ sw *switching }

func (t endingTx) Commit() error {
	err := t.sw.tx.Commit()
	t.sw.ended.Store(true)
	return err
}

func (t endingTx) Rollback() error {
	err := t.sw.tx.Rollback()
	t.sw.ended.Store(true)
	return err
}

// Close does nothing: the pool belongs to the application.
func (d *txDriver) Close() error { return nil }
