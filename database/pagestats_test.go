package database_test

import (
	"context"
	"errors"
	"testing"

	"entgo.io/ent/dialect"
	"modernc.org/sqlite"

	"signet/database"
)

// TestSQLitePageStats: the pool's page-cache counters move as pages are
// read and written. A page read for the first time is a miss; read again on
// the same connection, a hit — until another connection commits, which
// empties the cache (WAL mode), so the next read misses again. A commit
// counts the pages it wrote; a read counts none. PostgreSQL has none.
func TestSQLitePageStats(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	db.SQL.SetMaxOpenConns(2)
	if _, err := db.SQL.ExecContext(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if _, err := db.SQL.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", string(rune('a'+i%26))+"……………………………………………………………………"); err != nil {
			t.Fatal(err)
		}
	}
	// Two connections held apart: a reader, and another that writes.
	reader, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := db.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	read := func() {
		t.Helper()
		var n int
		if err := reader.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE v LIKE 'a%'").Scan(&n); err != nil || n == 0 {
			t.Fatalf("read: %d %v", n, err)
		}
	}
	counters := func() (hits, misses int) {
		t.Helper()
		err := reader.Raw(func(dc any) error {
			st := dc.(sqlite.DBStatus) // the statement cache's connection forwards them
			var err error
			if hits, _, err = st.Status(sqlite.DBStatusCacheHit, false); err != nil {
				return err
			}
			misses, _, err = st.Status(sqlite.DBStatusCacheMiss, false)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return hits, misses
	}
	read()
	h1, m1 := counters()
	if m1 == 0 {
		t.Fatal("a first read counted no miss")
	}
	read()
	h2, m2 := counters()
	if h2 <= h1 || m2 != m1 {
		t.Fatalf("a second read: hits %d → %d, misses %d → %d; want more hits and no miss", h1, h2, m1, m2)
	}
	// Another connection commits: the reader's cache is emptied.
	if _, err := other.ExecContext(ctx, "INSERT INTO t (v) VALUES ('z')"); err != nil {
		t.Fatal(err)
	}
	read()
	h3, m3 := counters()
	if m3 <= m2 {
		t.Fatalf("a read after another connection's commit: misses %d → %d; want more", m2, m3)
	}
	reader.Close()
	other.Close()
	// The pool's sum covers both connections.
	sum, err := db.SQLitePageStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Hits < int64(h3) || sum.Misses < int64(m3) {
		t.Fatalf("pool: %+v, less than the reader's hits %d and misses %d", sum, h3, m3)
	}
	if d := sum.Sub(sum); d != (database.PageStats{}) {
		t.Fatalf("Sub: %+v", d)
	}
	// A commit writes the pages it changed to the log; a read writes none.
	stats := func() database.PageStats {
		t.Helper()
		st, err := db.SQLitePageStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	before := stats()
	if _, err := db.SQL.ExecContext(ctx, "UPDATE t SET v = v || '!' WHERE id <= 100"); err != nil {
		t.Fatal(err)
	}
	wrote := stats().Sub(before)
	if wrote.Writes < 2 {
		t.Fatalf("an update of 100 rows wrote %d pages", wrote.Writes)
	}
	before = stats()
	var n int
	if err := db.SQL.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if d := stats().Sub(before); d.Writes != 0 || d.Hits+d.Misses == 0 {
		t.Fatalf("a read: %+v, want pages read and none written", d)
	}

	if _, err := (&database.DB{Dialect: dialect.Postgres}).SQLitePageStats(ctx); !errors.Is(err, database.ErrNoPageStats) {
		t.Fatalf("PostgreSQL: %v", err)
	}
}
