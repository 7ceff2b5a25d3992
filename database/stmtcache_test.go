package database

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCache: the SQLite pool runs repeated texts on their compiled
// statements and stays correct where reuse could go wrong — the same text
// run while its rows are still open, more texts than the cache keeps, a
// statement that fails to compile, a schema change under compiled
// statements, and transactions.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "", filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SQL.SetMaxOpenConns(1) // one connection: every statement meets the same cache
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.SQL.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`)
	for i := range 5 {
		exec(`INSERT INTO t (id, name) VALUES (?, ?)`, i+1, fmt.Sprintf("n%d", i+1))
	}

	// The same text run inside a loop over its own rows (in one
	// transaction, so on one connection): the inner run cannot use the busy
	// statement and gets one of its own.
	const q = `SELECT id, name FROM t WHERE id >= ? ORDER BY id`
	tx, err := db.SQL.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var id int
		var name string
		rows.Scan(&id, &name)
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+q+`)`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		inner, err := tx.QueryContext(ctx, q, id) // the busy text itself
		if err != nil {
			t.Fatal(err)
		}
		m := 0
		for inner.Next() {
			m++
		}
		inner.Close()
		if n != 5-id+1 || m != n {
			t.Fatalf("from id %d: count %d, rows %d", id, n, m)
		}
		seen++
	}
	rows.Close()
	if _, err := tx.ExecContext(ctx, `UPDATE t SET name = ? WHERE id = ?`, "改", 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if seen != 5 {
		t.Fatalf("outer rows %d", seen)
	}
	var name string
	if err := db.SQL.QueryRowContext(ctx, `SELECT name FROM t WHERE id = ?`, 1).Scan(&name); err != nil || name != "n1" {
		t.Fatalf("after rollback: %q %v", name, err)
	}

	// A text that does not compile fails every time and is never kept.
	for range 2 {
		if _, err := db.SQL.ExecContext(ctx, `SELEC 1`); err == nil {
			t.Fatal("a syntax error ran")
		}
	}

	// More texts than the cache keeps: the one used longest ago is dropped,
	// all run, and a text run all along between the others stays compiled.
	const hot = `SELECT count(*) FROM t WHERE id > ?`
	runHot := func() {
		t.Helper()
		var n int
		if err := db.SQL.QueryRowContext(ctx, hot, 0).Scan(&n); err != nil || n != 5 {
			t.Fatalf("%s: %d %v", hot, n, err)
		}
	}
	kept := func() (stmt *cachedStmt, size int) {
		t.Helper()
		conn, err := db.SQL.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Raw(func(dc any) error {
			c := dc.(*cachingConn)
			c.own.mu.Lock()
			defer c.own.mu.Unlock()
			stmt, size = c.own.stmts[hot], len(c.own.stmts)
			return nil
		})
		return stmt, size
	}
	runHot()
	first, _ := kept()
	for i := range stmtCacheSize + 20 {
		var got int
		if err := db.SQL.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + ?`, i), 1).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("text %d: %d %v", i, got, err)
		}
		runHot()
	}
	if now, size := kept(); first == nil || now != first || size > stmtCacheSize {
		t.Fatalf("after %d other texts: the hot statement %p, first compiled %p; %d kept (at most %d)",
			stmtCacheSize+20, now, first, size, stmtCacheSize)
	}

	// A compiled statement survives a schema change (SQLite recompiles).
	const sel = `SELECT * FROM t WHERE id = ?`
	cols := func() int {
		t.Helper()
		r, err := db.SQL.QueryContext(ctx, sel, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		c, _ := r.Columns()
		return len(c)
	}
	before := cols()
	exec(`ALTER TABLE t ADD COLUMN note TEXT`)
	if after := cols(); after != before+1 {
		t.Fatalf("columns %d after ALTER, %d before", after, before)
	}
}
