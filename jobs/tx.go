package jobs

import (
	"context"
	"database/sql"
	"fmt"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"signet/database"
	"signet/ent"
)

// WithTx runs fn in one database transaction seen two ways: tx for ent rows
// (with ent's hooks, privacy rules and commit hooks such as
// events.AfterCommit) and jtx for Queue.InsertTx. It commits when fn returns
// nil and rolls back when fn fails or panics. On SQLite the transaction takes
// the write lock at BEGIN (the DSN asks for BEGIN IMMEDIATE).
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
//		_, err = queue.InsertTx(ctx, jtx, NotifyArgs{FlowID: id}, nil)
//		return err
//	})
//
// How: ent cannot hand out the *sql.Tx under an *ent.Tx, so WithTx begins
// the *sql.Tx itself and builds a short-lived ent client whose driver runs
// on it and whose "transaction" commits or rolls back that *sql.Tx. Options
// given to the application's ent client (a debug logger) do not carry over.
func WithTx(ctx context.Context, db *database.DB, fn func(tx *ent.Tx, jtx JobTx) error) (err error) {
	unlock, err := db.LockWrites(ctx)
	if err != nil {
		return fmt.Errorf("jobs: begin: %w", err)
	}
	defer unlock()
	stx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: begin: %w", err)
	}
	client := ent.NewClient(ent.Driver(&txDriver{Driver: entsql.NewDriver(db.Dialect, entsql.Conn{ExecQuerier: stx}), tx: stx}))
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
	if err := fn(tx, JobTx{tx: stx}); err != nil {
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
	tx *sql.Tx
}

// Tx returns the bound transaction.
func (d *txDriver) Tx(context.Context) (dialect.Tx, error) {
	return &entsql.Tx{Conn: entsql.Conn{ExecQuerier: d.tx}, Tx: d.tx}, nil
}

// Close does nothing: the pool belongs to the application.
func (d *txDriver) Close() error { return nil }
