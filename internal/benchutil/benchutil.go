// Package benchutil holds what the on-demand harnesses (docs/benchmarks.md)
// share — running workers at once, the process's CPU time, waiting for the
// job queue, reading their settings from the environment — and tests use
// too (WaitJobsIdle).
package benchutil

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"signet/database"
)

// InParallel runs fn(0…n-1) at once and returns the wall clock it took; a
// worker's error fails the test.
func InParallel(t testing.TB, n int, fn func(i int) error) time.Duration {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			pprof.Do(context.Background(), pprof.Labels("phase", "timed"), func(context.Context) { errs[i] = fn(i) })
		})
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

// GCCPU is the CPU time the garbage collector has used in this process
// (the runtime's estimate: its background and idle marking, the assists
// charged to allocating goroutines and its pauses).
func GCCPU() time.Duration {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return time.Duration(s[0].Value.Float64() * float64(time.Second))
}

// heapState is what the runtime has allocated and marked so far.
type heapState struct {
	allocs   uint64        // bytes allocated on the heap
	idleMark time.Duration // marking on processors that had nothing else to run
}

func readHeap() heapState {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	metrics.Read(s)
	var h heapState
	if s[0].Value.Kind() == metrics.KindUint64 {
		h.allocs = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindFloat64 {
		h.idleMark = time.Duration(s[1].Value.Float64() * float64(time.Second))
	}
	return h
}

func (h heapState) since(h0 heapState) heapState {
	return heapState{allocs: h.allocs - h0.allocs, idleMark: h.idleMark - h0.idleMark}
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

// WaitFor polls done every millisecond until it is true, at most 30 s.
// The sustained harnesses stop their clock with it when the signatures'
// jobs have done their work (the next signers' texts sent): River records
// a finished job in batches, every 250 ms below 100 of them, so its table
// says "running" for up to a quarter of a second after the work is done —
// bookkeeping latency, which would charge a short run a fixed tail.
func WaitFor(t testing.TB, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if done() {
			return
		}
	}
	t.Fatalf("%s: not done in 30 s", what)
}

// EnvInt reads a positive integer setting, def when unset or invalid.
func EnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// StartProfile starts a CPU profile of the process when SIGNET_BENCH_PROFILE
// names a folder (name.cpu.pprof in it) and returns what stops it; without
// the variable it does nothing. It writes the allocation profile at the
// start (name.allocs0.pprof) and at the stop (name.allocs.pprof):
// `go tool pprof -base name.allocs0.pprof name.allocs.pprof` is what the
// timed part allocated. The workers of InParallel carry the
// pprof label phase=timed, so `go tool pprof -tagfocus=phase=timed` keeps
// what the timed part ran in them (jobs and other background work do not
// carry it). With SIGNET_BENCH_TRACE=1 as well, it samples where goroutines
// block (name.block.pprof) and writes an execution trace (name.trace), which
// shows when the processors idle and why; the trace costs ≈ 15 % of the run.
func StartProfile(t testing.TB, name string) (stop func()) {
	t.Helper()
	dir := os.Getenv("SIGNET_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	path := func(ext string) string { return filepath.Join(dir, strings.ReplaceAll(name, "/", "_")+ext) }
	writeProfile := func(kind, ext string) {
		pf, err := os.Create(path(ext))
		if err == nil {
			err = pprof.Lookup(kind).WriteTo(pf, 0)
			if cerr := pf.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			t.Error(err)
		}
	}
	runtime.GC() // the allocation profile as of now
	writeProfile("allocs", ".allocs0.pprof")
	f, err := os.Create(path(".cpu.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	var tf *os.File
	if os.Getenv("SIGNET_BENCH_TRACE") != "" {
		runtime.SetBlockProfileRate(10_000) // one blocking event in each 10 µs spent blocked
		if tf, err = os.Create(path(".trace")); err != nil {
			t.Fatal(err)
		}
		if err := trace.Start(tf); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		if tf != nil {
			trace.Stop()
			if err := tf.Close(); err != nil {
				t.Error(err)
			}
			runtime.SetBlockProfileRate(0)
			writeProfile("block", ".block.pprof")
		}
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			t.Error(err)
		}
		writeProfile("allocs", ".allocs.pprof")
	}
}

// Ticks is a reading of the whole machine's CPU time from /proc/stat, in
// clock ticks: Busy (idle and iowait count as not busy), IOWait (idle while
// a disk read or write this machine waits for is outstanding — an fsync)
// and Total; zero where there is no /proc.
type Ticks struct{ Busy, IOWait, Total int64 }

// MachineTicks reads the machine's Ticks now.
func MachineTicks() Ticks {
	var t Ticks
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return t
	}
	for i, f := range fields[1:] {
		n, _ := strconv.ParseInt(f, 10, 64)
		if i >= 8 { // guest time is already in user time
			break
		}
		t.Total += n
		switch i {
		case 3: // idle
		case 4:
			t.IOWait += n
		default:
			t.Busy += n
		}
	}
	return t
}

// Sub is the ticks between an earlier reading u and t.
func (t Ticks) Sub(u Ticks) Ticks {
	return Ticks{Busy: t.Busy - u.Busy, IOWait: t.IOWait - u.IOWait, Total: t.Total - u.Total}
}

// Add sums two spans of ticks.
func (t Ticks) Add(u Ticks) Ticks {
	return Ticks{Busy: t.Busy + u.Busy, IOWait: t.IOWait + u.IOWait, Total: t.Total + u.Total}
}

// SustainedRun describes one run of a sustained signing harness (flows
// TestSignThroughputSustained, app TestSignMutationSustained): signingcore
// alone, the pipeline, then signingcore alone again, each by Workers
// workers doing their signatures back to back — the pipeline split into
// Rounds, with signingcore alone between them. signingcore runs on both
// sides of each round because the machine's speed drifts (by a quarter
// within minutes on the shared VMs, ±10 % from one second to the next):
// the baseline is the mean of all its runs, taken around the pipeline's
// rounds rather than before them.
type SustainedRun struct {
	Workers, Each int
	// Core is one signature of signingcore alone.
	Core func() error
	// Sign is worker w's k-th timed signature.
	Sign func(w, k int) error
	// Answered runs at the last answer, before Drain (the backlog read).
	Answered func()
	// Drain waits until the jobs of the first signed signatures have done
	// their work (the next signers texted): the clock stops after it.
	Drain func(signed int)
	// Settle, when set, runs after the clock has stopped: it waits until
	// the job queue has recorded the jobs as done (RunSustained reports how
	// long after the clock that was).
	Settle func()
	// Profile names the profile of the timed part (StartProfile; of its
	// first round when there are several).
	Profile string
	// Rounds splits the pipeline's run into that many rounds, each of
	// Each/Rounds signatures per worker with its jobs done, and runs
	// signingcore alone before each and after the last, so that every
	// round is compared with the machine's speed just before and after it:
	// the machine drifts by ±10 % from one second to the next here. 0 is 1.
	Rounds int
}

// Sustained is what RunSustained measured: wall clock and this process's
// CPU of signingcore alone and of the pipeline (to its last answer, and
// with its jobs done), and how busy the machine was in the pipeline's run.
type Sustained struct {
	// Core is the mean of CoreBefore and CoreAfter (CoreCPU likewise).
	Core, Answered, Full  time.Duration
	CoreBefore, CoreAfter time.Duration
	// Settled is how long after Full the job queue had recorded the jobs.
	Settled          time.Duration
	CoreCPU, FullCPU time.Duration
	// CoreGC and FullGC are the garbage collector's share of CoreCPU and
	// FullCPU (GCCPU).
	CoreGC, FullGC time.Duration
	// Busy is the share of the machine's CPU that was busy in the
	// pipeline's rounds; IOWait the share that idled while a disk write or
	// read was outstanding (the commits' fsyncs: Signet's own work waits
	// for them, the load's requests with it).
	Busy, IOWait float64
	// RoundRatios are the rounds' own ratios: a round's rate against the
	// mean of signingcore's just before and after it.
	RoundRatios []float64
	// The heap each side allocated, and the collector's marking on
	// processors that were idle otherwise (part of CoreGC and FullGC that
	// took no CPU from the work).
	coreHeap, fullHeap heapState
}

// Memory describes, per signature, what each side allocated and how much of
// its collector's CPU used processors that would have idled.
func (m Sustained) Memory(r SustainedRun) string {
	n := uint64(r.Workers * r.Each)
	return fmt.Sprintf("allocated per op: signingcore alone %.0f KB, the pipeline %.0f KB; GC marking on idle processors per op: %s and %s",
		float64(m.coreHeap.allocs/n)/1024, float64(m.fullHeap.allocs/n)/1024, r.PerOp(m.coreHeap.idleMark), r.PerOp(m.fullHeap.idleMark))
}

// RunSustained runs r: signingcore alone, then each round of the pipeline
// followed by signingcore alone again, a garbage collection before each.
func RunSustained(t testing.TB, r SustainedRun) Sustained {
	t.Helper()
	rounds := max(r.Rounds, 1)
	if r.Each%rounds != 0 {
		t.Fatalf("%d signatures per worker do not split into %d rounds", r.Each, rounds)
	}
	per := r.Each / rounds
	var m Sustained
	core := func() (wall, cpu, gc time.Duration, heap heapState) {
		runtime.GC()
		cpu0, gc0, heap0 := ProcessCPU(), GCCPU(), readHeap()
		wall = InParallel(t, r.Workers, func(int) error {
			for range per {
				if err := r.Core(); err != nil {
					return err
				}
			}
			return nil
		})
		return wall, ProcessCPU() - cpu0, GCCPU() - gc0, readHeap().since(heap0)
	}
	coreWall, coreCPU, coreGC, coreHeap := core()
	m.CoreBefore, m.Core, m.CoreCPU, m.CoreGC, m.coreHeap = coreWall, coreWall, coreCPU, coreGC, coreHeap
	var ticks Ticks
	for round := range rounds {
		runtime.GC()
		stop := func() {}
		if round == 0 {
			stop = StartProfile(t, r.Profile)
		}
		cpu0, gc0, heap0 := ProcessCPU(), GCCPU(), readHeap()
		ticks0 := MachineTicks()
		t0 := time.Now()
		answered := InParallel(t, r.Workers, func(w int) error {
			for k := round * per; k < (round+1)*per; k++ {
				if err := r.Sign(w, k); err != nil {
					return err
				}
			}
			return nil
		})
		if r.Answered != nil && round == rounds-1 {
			r.Answered()
		}
		r.Drain((round + 1) * per * r.Workers)
		full := time.Since(t0)
		ticks = ticks.Add(MachineTicks().Sub(ticks0))
		m.Answered += answered
		m.Full += full
		m.FullCPU += ProcessCPU() - cpu0
		m.FullGC += GCCPU() - gc0
		h := readHeap().since(heap0)
		m.fullHeap.allocs += h.allocs
		m.fullHeap.idleMark += h.idleMark
		stop()
		if r.Settle != nil {
			s0 := time.Now()
			r.Settle()
			m.Settled += time.Since(s0)
		}
		prev := coreWall
		coreWall, coreCPU, coreGC, coreHeap = core()
		m.Core += coreWall
		m.CoreCPU += coreCPU
		m.CoreGC += coreGC
		m.coreHeap.allocs += coreHeap.allocs
		m.coreHeap.idleMark += coreHeap.idleMark
		// Rates per signature: the round's against signingcore's around it.
		m.RoundRatios = append(m.RoundRatios, (prev+coreWall).Seconds()/2/full.Seconds())
	}
	m.CoreAfter = coreWall
	// Core, CoreCPU, CoreGC and the core's heap are per a whole run of
	// Workers × Each, as the pipeline's sums are: the core phases ran
	// rounds+1 times Workers × per.
	m.Core = m.Core * time.Duration(rounds) / time.Duration(rounds+1)
	m.CoreCPU = m.CoreCPU * time.Duration(rounds) / time.Duration(rounds+1)
	m.CoreGC = m.CoreGC * time.Duration(rounds) / time.Duration(rounds+1)
	m.coreHeap.allocs = m.coreHeap.allocs * uint64(rounds) / uint64(rounds+1)
	m.coreHeap.idleMark = m.coreHeap.idleMark * time.Duration(rounds) / time.Duration(rounds+1)
	m.CoreBefore, m.CoreAfter = m.CoreBefore*time.Duration(rounds), m.CoreAfter*time.Duration(rounds)
	if ticks.Total > 0 {
		m.Busy = float64(ticks.Busy) / float64(ticks.Total)
		m.IOWait = float64(ticks.IOWait) / float64(ticks.Total)
	}
	return m
}

// Rounds describes the rounds' own ratios, when there were several.
func (m Sustained) Rounds() string {
	if len(m.RoundRatios) < 2 {
		return ""
	}
	rs := slices.Clone(m.RoundRatios)
	parts := make([]string, len(rs))
	for i, x := range rs {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	slices.Sort(rs)
	return fmt.Sprintf("rounds %s (median %.2f)", strings.Join(parts, ", "), rs[len(rs)/2])
}

// PerOp is d per signature of the run.
func (r SustainedRun) PerOp(d time.Duration) time.Duration {
	return (d / time.Duration(r.Workers*r.Each)).Round(time.Microsecond)
}

// Rate is the run's signatures per second in d.
func (r SustainedRun) Rate(d time.Duration) float64 {
	return float64(r.Workers*r.Each) / d.Seconds()
}

// PageCounter reads SQLite's page-cache counters (database.PageStats) over
// a measured run; on PostgreSQL (db nil) it reads nothing.
type PageCounter struct {
	db    *database.DB
	start database.PageStats
}

// CountPages takes the first reading; call it while the pool is idle.
func CountPages(t testing.TB, db *database.DB) *PageCounter {
	t.Helper()
	st, err := pageStats(db)
	if errors.Is(err, database.ErrNoPageStats) {
		return &PageCounter{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return &PageCounter{db: db, start: st}
}

// PerOp takes the second reading and says how many pages each of ops
// operations found in the connections' caches, how many it read (the
// misses) and how many it wrote to the log: "" on PostgreSQL. Unlike time, the counts do not drift with the
// machine.
func (c *PageCounter) PerOp(t testing.TB, ops int) string {
	t.Helper()
	if c.db == nil {
		return ""
	}
	st, err := pageStats(c.db)
	if err != nil {
		t.Fatal(err)
	}
	d := st.Sub(c.start)
	per := func(n int64) float64 { return float64(n) / float64(ops) }
	return fmt.Sprintf("SQLite pages per op: %.1f read, %.1f cached, %.1f written", per(d.Misses), per(d.Hits), per(d.Writes))
}

// pageStats reads the counters, waiting at most 30 s for the pool's
// connections (SQLitePageStats holds them all at once).
func pageStats(db *database.DB) (database.PageStats, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := db.SQLitePageStats(ctx)
	if err != nil && !errors.Is(err, database.ErrNoPageStats) {
		return st, fmt.Errorf("SQLite page counters: %w", err)
	}
	return st, err
}
