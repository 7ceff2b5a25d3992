package database_test

import (
	"context"
	"database/sql"
	"fmt"
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
	db := openSQLite(t)
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

// TestSQLiteWriterKeepsItsCache: every write runs on the writer's own
// connection, whichever of the pool's connections it came on, so a write
// transaction finds in memory the pages the previous one touched. When
// writes ran on the pool's connections, a transaction on another connection
// than the last writer's began by dropping its cache (WAL mode) and read
// every page again.
func TestSQLiteWriterKeepsItsCache(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	for _, q := range []string{
		"CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, pad TEXT)",
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t (v, pad) SELECT i, printf('%.100c', 'x') FROM n",
	} {
		if _, err := db.SQL.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	before, err := db.SQLitePageStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Two of the pool's connections write in turn.
	var conns [2]*sql.Conn
	for i := range conns {
		if conns[i], err = db.SQL.Conn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 20
	for i := range rounds {
		tx, err := conns[i%2].BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE t SET v = v + 1"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	after, err := db.SQLitePageStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	// The table spans ≈ 60 pages: reading them again in each round would
	// miss ≈ 1 200 times.
	if d.Writes < rounds*50 || d.Misses > 60 {
		t.Fatalf("%d write transactions over the whole table: %d pages written, %d read from the files (at most one reading of the table expected)", rounds, d.Writes, d.Misses)
	}
	var n int
	if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE v = id + ?", rounds).Scan(&n); err != nil || n != 2000 {
		t.Fatalf("after %d rounds: %d rows updated each time, %v", rounds, n, err)
	}
}

// TestSQLiteSettingReachesWriter: a pragma set on a pool's connection
// outside a transaction holds in its transactions, which run on the
// writer's connection — ent's SQLite migration turns foreign keys off
// around its transaction, which rebuilds tables.
func TestSQLiteSettingReachesWriter(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	c, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inTx := func() (on int) {
		t.Helper()
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&on); err != nil {
			t.Fatal(err)
		}
		return on
	}
	if on := inTx(); on != 1 {
		t.Fatalf("foreign keys in a transaction: %d, want 1 (the DSN's)", on)
	}
	for _, want := range []int{0, 1} {
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA foreign_keys = %d", want)); err != nil {
			t.Fatal(err)
		}
		if on := inTx(); on != want {
			t.Fatalf("foreign keys set to %d, then in a transaction: %d", want, on)
		}
		var own int
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&own); err != nil || own != want {
			t.Fatalf("foreign keys set to %d, then outside a transaction: %d %v", want, own, err)
		}
	}
}

// openSQLite opens a new SQLite database in a temporary folder, closed when
// the test ends.
func openSQLite(t *testing.T) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), "", filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
