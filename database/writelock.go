package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SQLite admits one writer at a time. A writer that finds another holding
// the lock waits in SQLite's busy handler, which polls with sleeps of up to
// 100 ms, holding one of the pool's connections all the while; under load
// the writers would mostly sleep and the readers wait for connections.
// This process's writers therefore queue for one token instead, which is
// handed over at once: every transaction (with _txlock=immediate every
// transaction writes) and every write statement outside one, whoever sends
// it — ent, River's SQLite driver, the staged-revision mover. Only
// PostgreSQL, which locks rows, goes without.
//
// The token comes with a connection of its own, on which every write runs:
// the pool's connection that took the token hands the transaction's
// statements to it. In WAL mode a connection drops its whole page cache
// whenever another connection has committed since its last read, so when
// writes ran on whichever pool connection was free, nearly every write
// transaction began by dropping the cache and read each page it touched
// again from the files — a system call per page, on the path every
// signature's commit queues behind (flows/commit.go). The writer's
// connection is the only one that commits, so its cache holds: the pages a
// group commit touches are found in memory. The readers' connections still
// drop theirs after each commit, as before.
//
// A writer waits for the token holding the pool's connection it came on:
// the token is always taken after a connection and never the other way
// round, so a writer that holds the token never waits for a connection
// held by one that waits for the token.

// writer is the token (a channel with room for one) and the connection the
// holder writes on, opened by the first writer.
type writer struct {
	token chan struct{}
	open  func() (sqliteConn, error)
	eng   *engine // guarded by the token
}

// newWriter returns a writer whose connection open makes.
func newWriter(open func() (sqliteConn, error)) *writer {
	return &writer{token: make(chan struct{}, 1), open: open}
}

// writeWait is how long a writer waits for the token, SQLiteDSN's
// busy_timeout.
const writeWait = 10 * time.Second

var errWriteBusy = errors.New("database: another write transaction has held SQLite's write lock for 10 s (database is locked)")

// acquire waits for the token, at most writeWait or until ctx ends, and
// returns the writer's connection.
func (w *writer) acquire(ctx context.Context) (*engine, error) {
	select {
	case w.token <- struct{}{}:
		return w.engine()
	default:
	}
	// As long as SQLite's own busy timeout, and then the same refusal: a
	// writer that never ends (or one nested in another) fails instead of
	// hanging every other.
	t := time.NewTimer(writeWait)
	defer t.Stop()
	select {
	case w.token <- struct{}{}:
		return w.engine()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, errWriteBusy
	}
}

// engine opens the writer's connection the first time (and again when it is
// no longer usable). The caller holds the token; engine gives it back when
// the connection cannot be opened.
func (w *writer) engine() (*engine, error) {
	if w.eng != nil && !w.eng.conn.IsValid() { // as database/sql discards a pool's connection
		w.eng.close()
		w.eng = nil
	}
	if w.eng == nil {
		c, err := w.open()
		if err != nil {
			w.release()
			return nil, fmt.Errorf("database: open the writer's connection: %w", err)
		}
		w.eng = newEngine(c)
	}
	return w.eng, nil
}

func (w *writer) release() { <-w.token }

// close closes the writer's connection, waiting for the token.
func (w *writer) close() error {
	w.token <- struct{}{}
	defer w.release()
	if w.eng == nil {
		return nil
	}
	err := w.eng.close()
	w.eng = nil
	return err
}

// BeginTx takes the token for the transaction, which runs on the writer's
// connection, and gives it back when the transaction ends.
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	e, err := c.writer.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := e.conn.BeginTx(ctx, opts)
	if err != nil {
		c.writer.release()
		return nil, err
	}
	c.cur = e
	return &endTx{Tx: tx, end: func() {
		c.cur = c.own
		c.writer.release()
	}}, nil
}

// endTx runs end once the transaction has committed or rolled back.
type endTx struct {
	driver.Tx
	end func()
}

func (t *endTx) Commit() error {
	defer t.end()
	return t.Tx.Commit()
}

func (t *endTx) Rollback() error {
	defer t.end()
	return t.Tx.Rollback()
}

// engineFor returns the engine query runs on and what to call when it is
// done: in a transaction, the writer's; for a write statement outside one,
// the writer's, its token taken until unlock; otherwise the connection's
// own.
func (c *cachingConn) engineFor(ctx context.Context, query string) (e *engine, unlock func(), err error) {
	if c.cur != c.own || !writes(query) {
		return c.cur, func() {}, nil
	}
	e, err = c.writer.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	return e, c.writer.release, nil
}

// setsPragma reports whether an SQL text sets a pragma ("PRAGMA name = v"
// or "PRAGMA name(v)"), as opposed to reading one.
func setsPragma(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	if len(q) < 6 || !strings.EqualFold(q[:6], "PRAGMA") {
		return false
	}
	return strings.ContainsAny(q[6:], "=(")
}

// writes reports whether an SQL text may write: its first keyword, after
// comments, is not SELECT, EXPLAIN, VALUES or PRAGMA (a WITH writes when it holds
// an INSERT, UPDATE or DELETE).
func writes(query string) bool {
	q := query
	for {
		q = strings.TrimLeft(q, " \t\r\n")
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return false
			}
			q = q[i+1:]
			continue
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 {
				return false
			}
			q = q[i+2:]
			continue
		}
		break
	}
	end := strings.IndexAny(q, " \t\r\n(")
	if end < 0 {
		end = len(q)
	}
	switch strings.ToUpper(q[:end]) {
	case "SELECT", "EXPLAIN", "VALUES", "PRAGMA", "":
		return false
	case "WITH":
		u := strings.ToUpper(q)
		return strings.Contains(u, "INSERT ") || strings.Contains(u, "UPDATE ") || strings.Contains(u, "DELETE ")
	}
	return true
}
