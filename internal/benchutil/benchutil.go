// Package benchutil holds what the on-demand harnesses (docs/benchmarks.md)
// share — running workers at once, the process's CPU time, waiting for the
// job queue, reading their settings from the environment — and tests use
// too (WaitJobsIdle).
package benchutil

import (
	"database/sql"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// InParallel runs fn(0…n-1) at once and returns the wall clock it took; a
// worker's error fails the test.
func InParallel(t testing.TB, n int, fn func(i int) error) time.Duration {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	took := time.Since(t0)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	return took
}

// ProcessCPU is the user and system CPU time this process has used (a
// database server's is not in it).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// WaitJobsIdle waits until River's queue in db has nothing to run now (jobs
// scheduled for later, such as expiry, do not count).
func WaitJobsIdle(t testing.TB, db *sql.DB) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the job queue did not drain in 30 s")
}

// EnvInt reads a positive integer setting, def when unset or invalid.
func EnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
