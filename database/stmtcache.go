package database

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"

	"modernc.org/sqlite"
)

// SQLite compiles every statement it runs, and the embedded SQLite (a Go
// translation of the C library) spends a good part of a request's CPU in its
// parser: ent sends each statement as text, and database/sql prepares,
// runs and finalizes it every time. The SQLite pool therefore keeps, per
// connection, the compiled statements it has run (the same few hundred
// texts come back all the time), and runs a text it has seen on its
// compiled statement. PostgreSQL needs none of this: pgx caches prepared
// statements per connection itself.

// stmtCacheSize bounds the statements kept per connection; beyond it the
// one used longest ago is dropped. Least recently used, not first in: a
// group commit's statements have a text per group size (their IN lists
// and CASE arms), and dropping the oldest text dropped the hottest ones —
// the session's, the plan's, compiled first — so that every few groups
// they were compiled again.
const stmtCacheSize = 256

// cachingDriver opens connections that keep their compiled statements and
// share one write lock (writelock.go).
type cachingDriver struct {
	inner  driver.Driver
	writer writeLock
}

func (d cachingDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return newCachingConn(c, d.writer)
}

// cachingConnector opens dsn through cachingDriver.
type cachingConnector struct {
	d   cachingDriver
	dsn string
}

func (k cachingConnector) Connect(context.Context) (driver.Conn, error) { return k.d.Open(k.dsn) }
func (k cachingConnector) Driver() driver.Driver                        { return k.d }

// sqliteConn is what database/sql uses of the SQLite driver's connection.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a connection with its compiled statements by text. A
// statement still reading rows is busy: the same text run meanwhile (a
// query inside a loop over another's rows) is compiled once more, not
// cached.
type cachingConn struct {
	sqliteConn
	mu    sync.Mutex
	stmts map[string]*cachedStmt
	tick  uint64 // counts the statements taken; cachedStmt.used is its value at the last
	// writer is the process's SQLite write lock; inTx says that this
	// connection is in a transaction (writelock.go).
	writer writeLock
	inTx   bool
}

type cachedStmt struct {
	st   driver.Stmt
	busy bool
	used uint64
}

func newCachingConn(c driver.Conn, writer writeLock) (driver.Conn, error) {
	sc, ok := c.(sqliteConn)
	if !ok {
		c.Close()
		return nil, errors.New("database: the SQLite driver's connection lacks an interface the statement cache needs")
	}
	return &cachingConn{sqliteConn: sc, stmts: map[string]*cachedStmt{}, writer: writer}, nil
}

// take returns query's statement, compiled now if it is new, marked busy;
// nil (and no error) when it is busy already.
func (c *cachingConn) take(ctx context.Context, query string) (*cachedStmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	if cs := c.stmts[query]; cs != nil {
		if cs.busy {
			return nil, nil
		}
		cs.busy, cs.used = true, c.tick
		return cs, nil
	}
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= stmtCacheSize {
		// The scan is paid on a miss only, next to compiling a statement.
		var lru string
		var oldest *cachedStmt
		for q, cs := range c.stmts {
			if !cs.busy && (oldest == nil || cs.used < oldest.used) {
				lru, oldest = q, cs
			}
		}
		if oldest != nil {
			oldest.st.Close()
			delete(c.stmts, lru)
		}
	}
	cs := &cachedStmt{st: st, busy: true, used: c.tick}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cachingConn) release(cs *cachedStmt) {
	c.mu.Lock()
	cs.busy = false
	c.mu.Unlock()
}

// QueryContext runs query on its kept statement. A write outside a
// transaction (an UPDATE … RETURNING) holds the write lock until its rows
// are closed.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	unlock, err := c.lockStatement(ctx, query)
	if err != nil {
		return nil, err
	}
	done := func() {
		if unlock != nil {
			unlock()
		}
	}
	cs, err := c.take(ctx, query)
	if err != nil {
		done()
		return nil, err
	}
	var rows driver.Rows
	if cs == nil {
		rows, err = c.sqliteConn.QueryContext(ctx, query, args)
	} else {
		rows, err = cs.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	}
	if err != nil {
		if cs != nil {
			c.release(cs)
		}
		done()
		return nil, err
	}
	full, ok := rows.(sqliteRows)
	if !ok {
		rows.Close()
		if cs != nil {
			c.release(cs)
		}
		done()
		return nil, errors.New("database: the SQLite driver's rows lack an interface the statement cache forwards")
	}
	return &cachedRows{sqliteRows: full, release: func() {
		if cs != nil {
			c.release(cs)
		}
		done()
	}}, nil
}

// ExecContext runs query on its kept statement; a write outside a
// transaction holds the write lock while it runs.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	unlock, err := c.lockStatement(ctx, query)
	if err != nil {
		return nil, err
	}
	if unlock != nil {
		defer unlock()
	}
	cs, err := c.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.sqliteConn.ExecContext(ctx, query, args)
	}
	defer c.release(cs)
	return cs.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

// Status reads the driver's per-connection counters (sqlite.DBStatus;
// pagestats.go).
func (c *cachingConn) Status(op sqlite.DBStatusOp, reset bool) (current, high int, err error) {
	st, ok := c.sqliteConn.(sqlite.DBStatus)
	if !ok {
		return 0, 0, errors.New("database: the SQLite driver's connection has no status counters")
	}
	return st.Status(op, reset)
}

// Close finalizes the kept statements and closes the connection.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	for _, cs := range c.stmts {
		cs.st.Close()
	}
	c.stmts = nil
	c.mu.Unlock()
	return c.sqliteConn.Close()
}

// sqliteRows is what database/sql uses of the SQLite driver's rows.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// cachedRows frees its statement for the next run when closed (the driver
// resets a compiled statement's rows instead of finalizing it).
type cachedRows struct {
	sqliteRows
	once    sync.Once
	release func()
}

func (r *cachedRows) Close() error {
	err := r.sqliteRows.Close()
	r.once.Do(r.release)
	return err
}
