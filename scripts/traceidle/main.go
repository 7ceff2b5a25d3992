// Command traceidle reads an execution trace of a signing harness
// (SIGNET_BENCH_TRACE=1 with SIGNET_BENCH_PROFILE, internal/benchutil) and
// says where the machine idled: the share of processor time no goroutine
// ran, that idle time split between the goroutines then in a system call
// (by the first Signet frame of their stack, or their first frame outside
// the runtime), and how many goroutines on average waited for what — or
// were ready to run, by what they had waited for — while the machine
// idled. Idle time while goroutines were ready to run is time a processor
// took to be woken (futex, and on a VM the host waking the virtual CPU).
// Last, the group commit's path (flows' commitAll, which every signature
// queues behind): how long its goroutines ran, waited for a processor, sat
// in system calls or waited, and where they did the last two.
// It is a module of its own so that Signet does not depend on
// golang.org/x/exp:
//
//	cd scripts/traceidle && go run . /tmp/prof/sqlite-signflow-sustained.trace
//
// The CPU profiler's reader (runtime/pprof.readProfile) sits in a system
// call all along; it is left out of the split. Net/http's
// server keeps a goroutine reading each connection while a request is
// handled: "network: net.(*netFD).Read" counts those too.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/exp/trace"
)

// procs is GOMAXPROCS of the traced run (this machine's two cores).
const procs = 2

// profiler is where the CPU profiler's reader waits.
const profiler = "pprof.readProfile"

type goroutine struct {
	state trace.GoState
	where string
	// since is when the goroutine entered state; committing says that its
	// stack then held the group commit (flows' commitAll).
	since      trace.Time
	committing bool
	blockedAt  string
}

// commit is the group commit's function: the time its goroutine spends in
// each state is the serial path's.
const commit = "flows.(*Service).commitAll"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: traceidle file.trace")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer f.Close()
	r, err := trace.NewReader(f)
	if err != nil {
		fail(err)
	}
	var (
		gs                = map[trace.GoID]*goroutine{}
		running           int
		first, prev, last trace.Time
		idle, idleWall    float64                // ms of idle processors; ms of wall clock with one idle
		idleRunnable      float64                // idle ms while goroutines were ready to run
		inSyscall         = map[string]float64{} // idle ms, split between the goroutines in system calls
		waiting           = map[string]float64{} // goroutine-ms waiting, while idle
		ready             = map[string]float64{} // goroutine-ms ready to run, while idle, by what they had waited for
		committing        = map[string]float64{} // ms the group commit's goroutines spent, by state
		commitBlocked     = map[string]float64{} // of which in system calls or waiting, by where
	)
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
		}
		t := ev.Time()
		if first == 0 {
			first = t
		}
		if prev != 0 && t > prev && running < procs {
			dt := float64(t-prev) / 1e6
			id := dt * float64(procs-running)
			idle += id
			idleWall += dt
			sys := map[string]bool{}
			runnable := 0
			for _, g := range gs {
				switch g.state {
				case trace.GoRunnable:
					runnable++
					ready[g.where] += dt
				case trace.GoWaiting:
					waiting[g.where] += dt
				case trace.GoSyscall:
					if g.where != profiler {
						sys[g.where] = true
					}
				}
			}
			for w := range sys {
				inSyscall[w] += id / float64(len(sys))
			}
			if len(sys) == 0 {
				inSyscall["(no goroutine in a system call)"] += id
			}
			idleRunnable += min(id, dt*float64(runnable))
		}
		prev, last = t, t
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		g := gs[id]
		if g == nil {
			g = &goroutine{}
			gs[id] = g
		}
		// The interval that ends: a running one is the commit's when the
		// goroutine leaves it inside the commit; the others when it entered
		// them inside it.
		if g.since != 0 {
			in := g.committing
			if from == trace.GoRunning {
				in = holds(st.Stack, commit)
			}
			if in {
				committing[from.String()] += float64(t-g.since) / 1e6
				if from == trace.GoSyscall || from == trace.GoWaiting {
					commitBlocked[from.String()+": "+g.blockedAt] += float64(t-g.since) / 1e6
				}
			}
		}
		g.since = t
		if to != trace.GoRunning {
			g.committing = holds(st.Stack, commit)
			g.blockedAt = blockedAt(st.Stack, st.Reason)
		}
		if from == trace.GoRunning && running > 0 {
			running--
		}
		if to == trace.GoRunning {
			running++
		}
		g.state = to
		switch to {
		case trace.GoWaiting:
			g.where = where(ev.Stack())
			if st.Reason != "" {
				g.where = st.Reason + ": " + g.where
			}
		case trace.GoSyscall:
			g.where = where(ev.Stack())
		case trace.GoNotExist:
			delete(gs, id)
		}
	}
	span := float64(last-first) / 1e6
	fmt.Printf("span %.0f ms on %d processors: %.0f ms idle (%.1f %%), %.0f ms of it while goroutines were ready to run (a processor being woken)\n",
		span, procs, idle, 100*idle/(span*procs), idleRunnable)
	top("idle ms, split between the goroutines then in a system call:", inSyscall, 1)
	if idleWall > 0 {
		top("goroutines ready to run while the machine idled (mean), by what they had waited for:", ready, idleWall)
		top("goroutines waiting while the machine idled (mean), by where:", waiting, idleWall)
	}
	top("ms the group commit's goroutines spent (the serial path), by state:", committing, 1)
	top("of which in system calls or waiting, by where:", commitBlocked, 1)
}

// blockedAt names where a goroutine stopped: its reason and its two first
// frames outside the runtime.
func blockedAt(st trace.Stack, reason string) string {
	var out []string
	for f := range st.Frames() {
		fn := f.Func
		if strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/") || strings.HasPrefix(fn, "syscall.") {
			continue
		}
		if len(out) < 3 || (strings.HasPrefix(fn, "signet/") && len(out) < 5) {
			out = append(out, short(fn))
		}
	}
	if reason != "" {
		return reason + " " + strings.Join(out, " < ")
	}
	return strings.Join(out, " < ")
}

// holds says whether st has a frame of function fn.
func holds(st trace.Stack, fn string) bool {
	for f := range st.Frames() {
		if strings.HasSuffix(f.Func, fn) {
			return true
		}
	}
	return false
}

// where names a stack by its first Signet frame (with the first frame
// outside the runtime, for what it was doing), or by the latter alone.
func where(st trace.Stack) string {
	var frames []string
	for f := range st.Frames() {
		frames = append(frames, f.Func)
	}
	for _, fn := range frames {
		if strings.HasPrefix(fn, "signet/") && !strings.Contains(fn, "benchutil") {
			return short(fn) + " <" + outsideRuntime(frames) + ">"
		}
	}
	return outsideRuntime(frames)
}

func outsideRuntime(frames []string) string {
	for _, fn := range frames {
		switch {
		case strings.HasPrefix(fn, "runtime."), strings.HasPrefix(fn, "internal/"),
			strings.HasPrefix(fn, "sync."), strings.HasPrefix(fn, "syscall."):
		default:
			return short(fn)
		}
	}
	if len(frames) > 0 {
		return short(frames[0])
	}
	return "?"
}

func short(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

func top(title string, m map[string]float64, div float64) {
	type entry struct {
		k string
		v float64
	}
	var es []entry
	for k, v := range m {
		es = append(es, entry{k, v})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].v > es[j].v })
	fmt.Println(title)
	for i, e := range es {
		if i == 25 {
			break
		}
		fmt.Printf("  %8.1f  %s\n", e.v/div, e.k)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "traceidle:", err)
	os.Exit(1)
}
