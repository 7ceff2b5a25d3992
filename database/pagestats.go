package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"entgo.io/ent/dialect"
	"modernc.org/sqlite"
)

// PageStats are SQLite's page-cache counters summed over the pool's
// connections: a hit is a page found in the connection's cache, a miss a
// page read from the file or the log, a write a changed page written to the
// log when its transaction commits. In WAL mode a connection drops its
// whole cache whenever another one has committed, so misses count both the
// pages read for the first time and those read again after someone's
// commit. The signing harnesses report them per signature: unlike time,
// they do not drift with the machine.
type PageStats struct {
	Hits, Misses, Writes int64
}

// Sub is s minus an earlier reading.
func (s PageStats) Sub(earlier PageStats) PageStats {
	return PageStats{Hits: s.Hits - earlier.Hits, Misses: s.Misses - earlier.Misses, Writes: s.Writes - earlier.Writes}
}

// ErrNoPageStats says that the database is not SQLite.
var ErrNoPageStats = errors.New("database: page-cache counters are SQLite's")

// SQLitePageStats reads the counters of every open connection of the pool.
// It holds all of them at once while it reads, so it is meant for moments
// when the pool is idle (before and after a measured run); a connection
// opened or closed in between makes the difference meaningless.
func (d *DB) SQLitePageStats(ctx context.Context) (PageStats, error) {
	if d.Dialect != dialect.SQLite {
		return PageStats{}, ErrNoPageStats
	}
	n := d.SQL.Stats().OpenConnections
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var sum PageStats
	for range n {
		c, err := d.SQL.Conn(ctx)
		if err != nil {
			return PageStats{}, err
		}
		conns = append(conns, c)
		err = c.Raw(func(dc any) error {
			st, ok := dc.(sqlite.DBStatus)
			if !ok {
				return fmt.Errorf("database: the SQLite connection (%T) has no status counters", dc)
			}
			return sum.add(st)
		})
		if err != nil {
			return PageStats{}, err
		}
	}
	// The writer's connection, which the writes ran on (writelock.go).
	if d.writer != nil {
		e, err := d.writer.acquire(ctx)
		if err != nil {
			return PageStats{}, err
		}
		err = sum.add(statusOf(e.status))
		d.writer.release()
		if err != nil {
			return PageStats{}, err
		}
	}
	return sum, nil
}

// statusOf adapts a status function to sqlite.DBStatus.
type statusOf func(op sqlite.DBStatusOp, reset bool) (current, high int, err error)

func (f statusOf) Status(op sqlite.DBStatusOp, reset bool) (current, high int, err error) {
	return f(op, reset)
}

// add adds a connection's counters to s.
func (s *PageStats) add(st sqlite.DBStatus) error {
	hit, _, err := st.Status(sqlite.DBStatusCacheHit, false)
	if err != nil {
		return err
	}
	miss, _, err := st.Status(sqlite.DBStatusCacheMiss, false)
	if err != nil {
		return err
	}
	write, _, err := st.Status(sqlite.DBStatusCacheWrite, false)
	if err != nil {
		return err
	}
	s.Hits += int64(hit)
	s.Misses += int64(miss)
	s.Writes += int64(write)
	return nil
}
