package database

import (
	"context"
	"database/sql/driver"
	"errors"
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
// A writer waits for the token holding the connection it will write on:
// the token is always taken after a connection and never the other way
// round, so a writer that holds the token never waits for a connection
// held by one that waits for the token.

// writeLock is the token: a channel with room for one.
type writeLock chan struct{}

// writeWait is how long a writer waits for the token, SQLiteDSN's
// busy_timeout.
const writeWait = 10 * time.Second

var errWriteBusy = errors.New("database: another write transaction has held SQLite's write lock for 10 s (database is locked)")

// acquire waits for the token, at most writeWait or until ctx ends.
func (w writeLock) acquire(ctx context.Context) error {
	select {
	case w <- struct{}{}:
		return nil
	default:
	}
	// As long as SQLite's own busy timeout, and then the same refusal: a
	// writer that never ends (or one nested in another) fails instead of
	// hanging every other.
	t := time.NewTimer(writeWait)
	defer t.Stop()
	select {
	case w <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errWriteBusy
	}
}

func (w writeLock) release() { <-w }

// BeginTx takes the token for the transaction and gives it back when the
// transaction ends.
func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.writer != nil {
		if err := c.writer.acquire(ctx); err != nil {
			return nil, err
		}
	}
	end := func() {
		c.inTx = false
		if c.writer != nil {
			c.writer.release()
		}
	}
	tx, err := c.sqliteConn.BeginTx(ctx, opts)
	if err != nil {
		end()
		return nil, err
	}
	c.inTx = true
	return &endTx{Tx: tx, end: end}, nil
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

// lockStatement takes the token for a write statement sent outside a
// transaction and returns what gives it back (nil when it took nothing).
func (c *cachingConn) lockStatement(ctx context.Context, query string) (func(), error) {
	if c.writer == nil || c.inTx || !writes(query) {
		return nil, nil
	}
	if err := c.writer.acquire(ctx); err != nil {
		return nil, err
	}
	return c.writer.release, nil
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
