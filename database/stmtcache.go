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
// share one writer (writelock.go).
type cachingDriver struct {
	inner  driver.Driver
	writer *writer
}

func (d cachingDriver) Open(name string) (driver.Conn, error) {
	sc, err := openSQLite(d.inner, name)
	if err != nil {
		return nil, err
	}
	own := newEngine(sc)
	return &cachingConn{own: own, cur: own, writer: d.writer}, nil
}

// cachingConnector opens dsn through cachingDriver. Closing it (database/sql
// does when the pool closes) closes the writer's connection.
type cachingConnector struct {
	d   cachingDriver
	dsn string
}

func (k cachingConnector) Connect(context.Context) (driver.Conn, error) { return k.d.Open(k.dsn) }
func (k cachingConnector) Driver() driver.Driver                        { return k.d }
func (k cachingConnector) Close() error                                 { return k.d.writer.close() }

// openSQLite opens a connection of the SQLite driver d.
func openSQLite(d driver.Driver, dsn string) (sqliteConn, error) {
	c, err := d.Open(dsn)
	if err != nil {
		return nil, err
	}
	sc, ok := c.(sqliteConn)
	if !ok {
		c.Close()
		return nil, errors.New("database: the SQLite driver's connection lacks an interface the statement cache needs")
	}
	return sc, nil
}

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

// engine is one SQLite connection with its compiled statements by text. A
// statement still reading rows is busy: the same text run meanwhile (a
// query inside a loop over another's rows) is compiled once more, not
// cached.
type engine struct {
	conn  sqliteConn
	mu    sync.Mutex
	stmts map[string]*cachedStmt
	tick  uint64 // counts the statements taken; cachedStmt.used is its value at the last
}

type cachedStmt struct {
	st   driver.Stmt
	busy bool
	used uint64
}

func newEngine(c sqliteConn) *engine { return &engine{conn: c, stmts: map[string]*cachedStmt{}} }

// take returns query's statement, compiled now if it is new, marked busy;
// nil (and no error) when it is busy already.
func (e *engine) take(ctx context.Context, query string) (*cachedStmt, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tick++
	if cs := e.stmts[query]; cs != nil {
		if cs.busy {
			return nil, nil
		}
		cs.busy, cs.used = true, e.tick
		return cs, nil
	}
	st, err := e.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if len(e.stmts) >= stmtCacheSize {
		// The scan is paid on a miss only, next to compiling a statement.
		var lru string
		var oldest *cachedStmt
		for q, cs := range e.stmts {
			if !cs.busy && (oldest == nil || cs.used < oldest.used) {
				lru, oldest = q, cs
			}
		}
		if oldest != nil {
			oldest.st.Close()
			delete(e.stmts, lru)
		}
	}
	cs := &cachedStmt{st: st, busy: true, used: e.tick}
	e.stmts[query] = cs
	return cs, nil
}

func (e *engine) release(cs *cachedStmt) {
	e.mu.Lock()
	cs.busy = false
	e.mu.Unlock()
}

// close finalizes the kept statements and closes the connection.
func (e *engine) close() error {
	e.mu.Lock()
	for _, cs := range e.stmts {
		cs.st.Close()
	}
	e.stmts = nil
	e.mu.Unlock()
	return e.conn.Close()
}

// query runs query on its kept statement; done runs when the rows close
// (or at once, on an error).
func (e *engine) query(ctx context.Context, query string, args []driver.NamedValue, done func()) (driver.Rows, error) {
	cs, err := e.take(ctx, query)
	if err != nil {
		done()
		return nil, err
	}
	var rows driver.Rows
	if cs == nil {
		rows, err = e.conn.QueryContext(ctx, query, args)
	} else {
		rows, err = cs.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	}
	if err != nil {
		if cs != nil {
			e.release(cs)
		}
		done()
		return nil, err
	}
	full, ok := rows.(sqliteRows)
	if !ok {
		rows.Close()
		if cs != nil {
			e.release(cs)
		}
		done()
		return nil, errors.New("database: the SQLite driver's rows lack an interface the statement cache forwards")
	}
	return &cachedRows{sqliteRows: full, release: func() {
		if cs != nil {
			e.release(cs)
		}
		done()
	}}, nil
}

// exec runs query on its kept statement.
func (e *engine) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := e.take(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return e.conn.ExecContext(ctx, query, args)
	}
	defer e.release(cs)
	return cs.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

// status reads the driver's per-connection counters (sqlite.DBStatus).
func (e *engine) status(op sqlite.DBStatusOp, reset bool) (current, high int, err error) {
	st, ok := e.conn.(sqlite.DBStatus)
	if !ok {
		return 0, 0, errors.New("database: the SQLite driver's connection has no status counters")
	}
	return st.Status(op, reset)
}

// cachingConn is one of the pool's connections: its reads run on its own
// engine, its writes — a transaction, or a write statement outside one — on
// the process's writer (writelock.go) while it holds the writer's token.
type cachingConn struct {
	own *engine
	// cur is own, or the writer's engine while this connection is in a
	// transaction; only the goroutine using the connection touches it.
	cur    *engine
	writer *writer
}

// QueryContext runs query on its kept statement. A write outside a
// transaction (an UPDATE … RETURNING) runs on the writer, which it holds
// until its rows are closed.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	e, unlock, err := c.engineFor(ctx, query)
	if err != nil {
		return nil, err
	}
	return e.query(ctx, query, args, unlock)
}

// ExecContext runs query on its kept statement; a write outside a
// transaction runs on the writer, which it holds while it runs.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.cur == c.own && setsPragma(query) {
		// A setting outside a transaction (ent's migration turns foreign
		// keys off and on around its transaction) applies to the writer's
		// connection too, where this connection's transactions run.
		e, err := c.writer.acquire(ctx)
		if err != nil {
			return nil, err
		}
		_, err = e.exec(ctx, query, args)
		c.writer.release()
		if err != nil {
			return nil, err
		}
	}
	e, unlock, err := c.engineFor(ctx, query)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return e.exec(ctx, query, args)
}

// PrepareContext compiles query on the engine the connection uses now (the
// writer's, in a transaction). A statement prepared outside a transaction
// runs on the connection's own engine, without the writer's token.
func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.cur.conn.PrepareContext(ctx, query)
}

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// Begin is database/sql's old entry point; it uses BeginTx.
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *cachingConn) Ping(ctx context.Context) error { return c.own.conn.Ping(ctx) }

func (c *cachingConn) ResetSession(ctx context.Context) error { return c.own.conn.ResetSession(ctx) }

func (c *cachingConn) IsValid() bool { return c.own.conn.IsValid() }

// Status reads the counters of the connection's own engine
// (sqlite.DBStatus; pagestats.go adds the writer's).
func (c *cachingConn) Status(op sqlite.DBStatusOp, reset bool) (current, high int, err error) {
	return c.own.status(op, reset)
}

// Close finalizes the kept statements and closes the connection.
func (c *cachingConn) Close() error { return c.own.close() }

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
