package database_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"signet/database"
)

// TestSQLiteWritersTakeTurns: SQLite writers of one process take turns on
// the process's write lock — a transaction, and a write statement outside
// one (as River and the staged-revision mover send), wait until the
// transaction holding it ends, without SQLite's busy handler and without
// failing; a read does not wait; a writer whose context ends gives up.
func TestSQLiteWritersTakeTurns(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "", filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t (v) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	// A read goes on while the transaction is open.
	var n int
	if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("read during a write transaction: %d %v", n, err)
	}
	type done struct {
		at  time.Time
		err error
	}
	got := make(chan done, 3)
	go func() {
		_, err := db.SQL.ExecContext(ctx, "-- a comment first, as sqlc writes\nUPDATE t SET v = v + 1")
		got <- done{time.Now(), err}
	}()
	go func() {
		err := db.SQL.QueryRowContext(ctx, "INSERT INTO t (v) VALUES (2) RETURNING id").Scan(new(int))
		got <- done{time.Now(), err}
	}()
	go func() {
		tx2, err := db.SQL.BeginTx(ctx, nil)
		if err == nil {
			_, err = tx2.ExecContext(ctx, "INSERT INTO t (v) VALUES (3)")
			if err == nil {
				err = tx2.Commit()
			}
		}
		got <- done{time.Now(), err}
	}()
	// The three writers plus the transaction use all four connections;
	// none may go in before the commit.
	time.Sleep(100 * time.Millisecond)
	select {
	case d := <-got:
		t.Fatalf("a writer went in while another transaction held the lock: %v", d.err)
	default:
	}
	committed := time.Now()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		select {
		case d := <-got:
			if d.err != nil {
				t.Fatal(d.err)
			}
			if d.at.Before(committed) {
				t.Fatal("a writer went in before the holder committed")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a writer never went in")
		}
	}
	if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d rows, %v", n, err)
	}

	// A writer whose context ends while it waits gives up.
	hold, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := db.SQL.ExecContext(short, "DELETE FROM t"); err == nil {
		t.Fatal("a writer whose context ended went in")
	}
}
