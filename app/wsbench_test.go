package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"signet/events"
	"signet/internal/apitest"
	"signet/internal/benchutil"
	"signet/internal/dbtest"
)

// The websocket fan-out harness (issue 4, Measure): N concurrent websocket
// subscribers on one node, memory per connection and broadcast latency, for
// Signet's real handler (graphql-transport-ws, connection_init
// authentication, the flowUpdated subscription re-reading the flow after
// each event) and for a bare coder/websocket broadcast as the baseline.
//
// The clients run in a child process (this test binary re-executed), so the
// server process's memory is measured alone. They answer graphql-ws pings
// as graphql-ws does, and read without a deadline (a deadline costs a
// context.AfterFunc per read, client work that only slows both rows on a
// shared machine). Latency is from just before the broker's Publish to the
// moment a client has read its frame (both processes read the same wall
// clock). Memory is the growth of the Go heap in use (spans holding live
// objects, so fragmentation counts) and of goroutine stacks after two GCs,
// per connection, once all are subscribed and again after the broadcasts;
// live objects (HeapAlloc) are shown beside. The server's CPU time over the
// broadcasts, per frame delivered, is the load-independent part of the
// latency. It runs only when asked:
//
//	SIGNET_BENCH_WS=1 go test -run TestWebsocketFanout -v -timeout 30m ./app/
//
// SIGNET_BENCH_WS_CONNS (10000) and SIGNET_BENCH_WS_ROUNDS (20) adjust it;
// SIGNET_BENCH_WS_PROFILE=dir writes the server's heap and goroutine
// profiles (once subscribed) and CPU profile (over the broadcasts) per row,
// with every allocation sampled when SIGNET_BENCH_WS_PROFILE_EXACT=1 (slow).

// raiseFileLimit lifts the soft open-file limit to the hard one.
func raiseFileLimit(t testing.TB, need int) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < uint64(need) {
		t.Skipf("open-file limit %d is below the %d the run needs", rl.Cur, need)
	}
}

// memInUse is the server process's Go memory in use after a GC: heap
// objects and goroutine stacks.
func memInUse() (heap, stack, live uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse, ms.HeapAlloc
}

// cpuTime is the process's CPU time so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssKB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

type fanoutResult struct {
	name              string
	conns, rounds     int
	perConnKB, rssKB  float64
	heapKB, stackKB   float64
	liveKB            float64 // live objects (HeapAlloc); heapKB counts their spans
	afterKB           float64 // heap + stacks per connection after the broadcasts
	cpuPerFrame       time.Duration
	p50, p99, max     time.Duration
	setup             time.Duration
	goroutinesPerConn float64
	missing           int
}

// fanoutTarget is a server under test: where clients connect, and how to
// broadcast round k.
type fanoutTarget struct {
	url, origin, token, flowID string
	mode                       string // "signet" or "bare"
	publish                    func(round int)
	// active reports the server's open subscriptions, to wait for teardown.
	active func() int
}

func runFanout(t *testing.T, name string, target fanoutTarget, n, rounds int) fanoutResult {
	t.Helper()
	res := fanoutResult{name: name, conns: n, rounds: rounds}
	scanBuf := make([]byte, 1<<20) // before the measurement: it is the harness's
	heapBefore, stackBefore, liveBefore := memInUse()
	rssBefore, gBefore := rssKB(), runtime.NumGoroutine()

	cmd := exec.Command(os.Args[0], "-test.run=^TestWebsocketFanoutClients$", "-test.v=false")
	cmd.Env = append(os.Environ(), "SIGNET_BENCH_WS_CHILD=1", "SIGNET_BENCH_WS_MODE="+target.mode,
		"SIGNET_BENCH_WS_URL="+target.url, "SIGNET_BENCH_WS_ORIGIN="+target.origin, "SIGNET_BENCH_WS_TOKEN="+target.token,
		"SIGNET_BENCH_WS_FLOW="+target.flowID, "SIGNET_BENCH_WS_CONNS="+strconv.Itoa(n), "SIGNET_BENCH_WS_ROUNDS="+strconv.Itoa(rounds))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(scanBuf, 64<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string, timeout time.Duration) (string, bool) {
		deadline := time.After(timeout)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("%s: client process ended before %q\n%s", name, prefix, stderr.String())
				}
				if strings.HasPrefix(l, prefix) {
					return strings.TrimPrefix(l, prefix), true
				}
			case <-deadline:
				return "", false
			}
		}
	}
	if _, ok := expect("READY", 10*time.Minute); !ok {
		t.Fatalf("%s: clients not connected within 10 minutes\n%s", name, stderr.String())
	}
	res.setup = time.Since(start)
	time.Sleep(time.Second) // let the last handshakes settle
	heapAfter, stackAfter, liveAfter := memInUse()
	rssAfter := rssKB()
	res.heapKB = float64(int64(heapAfter)-int64(heapBefore)) / float64(n) / 1024
	res.stackKB = float64(int64(stackAfter)-int64(stackBefore)) / float64(n) / 1024
	res.liveKB = float64(int64(liveAfter)-int64(liveBefore)) / float64(n) / 1024
	res.perConnKB = res.heapKB + res.stackKB
	res.rssKB = float64(rssAfter-rssBefore) / float64(n)
	res.goroutinesPerConn = float64(runtime.NumGoroutine()-gBefore) / float64(n)
	if dir := os.Getenv("SIGNET_BENCH_WS_PROFILE"); dir != "" {
		for _, p := range []string{"heap", "goroutine"} {
			f, err := os.Create(filepath.Join(dir, target.mode+"."+p))
			if err != nil {
				t.Fatal(err)
			}
			pprof.Lookup(p).WriteTo(f, 0)
			f.Close()
		}
	}

	sent := make([]int64, rounds)
	if dir := os.Getenv("SIGNET_BENCH_WS_PROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, target.mode+".cpu"))
		if err != nil {
			t.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cpuBefore := cpuTime()
	for k := 0; k < rounds; k++ {
		sent[k] = time.Now().UnixNano()
		target.publish(k)
		expect(fmt.Sprintf("ROUND %d", k), 10*time.Second) // a missed frame is counted below
		time.Sleep(200 * time.Millisecond)
	}
	// The server's CPU per frame (the rounds' pauses included: the
	// server is idle then, but for Signet's own timers and jobs).
	res.cpuPerFrame = (cpuTime() - cpuBefore) / time.Duration(n*rounds)
	// Memory again, with the connections still open after the broadcasts:
	// the operations' stacks have grown to marshal responses and shrunk
	// back at GC, and the setup's garbage is gone.
	heapAfter, stackAfter, _ = memInUse()
	res.afterKB = float64(int64(heapAfter)-int64(heapBefore)+int64(stackAfter)-int64(stackBefore)) / float64(n) / 1024
	stdin.Close()
	var arrivals [][]int64
	raw, ok := expect("ARRIVALS ", time.Minute)
	if !ok {
		t.Fatalf("%s: no arrivals from the clients", name)
	}
	if err := json.Unmarshal([]byte(raw), &arrivals); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	var lat []time.Duration
	for k, as := range arrivals {
		for _, at := range as {
			if at == 0 {
				res.missing++
				continue
			}
			lat = append(lat, time.Duration(at-sent[k]))
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50, res.p99, res.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	// Wait for the server to let go of every connection.
	deadline := time.Now().Add(60 * time.Second)
	for target.active() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	return res
}

func TestWebsocketFanout(t *testing.T) {
	if os.Getenv("SIGNET_BENCH_WS") == "" || os.Getenv("SIGNET_BENCH_WS_CHILD") != "" {
		t.Skip("set SIGNET_BENCH_WS=1 to run the websocket fan-out harness")
	}
	n := benchutil.EnvInt("SIGNET_BENCH_WS_CONNS", 10000)
	rounds := benchutil.EnvInt("SIGNET_BENCH_WS_ROUNDS", 20)
	raiseFileLimit(t, n+1000)
	if os.Getenv("SIGNET_BENCH_WS_PROFILE_EXACT") != "" {
		runtime.MemProfileRate = 1 // every allocation in the heap profiles (slow)
	}
	var results []fanoutResult

	// Baseline: a bare coder/websocket broadcast, one writer goroutine per
	// connection fed by a buffered channel.
	{
		var mu sync.Mutex
		conns := map[chan []byte]struct{}{}
		var open atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			open.Add(1)
			defer open.Add(-1)
			ch := make(chan []byte, 16)
			mu.Lock()
			conns[ch] = struct{}{}
			mu.Unlock()
			defer func() { mu.Lock(); delete(conns, ch); mu.Unlock() }()
			ctx := c.CloseRead(r.Context())
			if c.Write(ctx, websocket.MessageText, []byte(`{"round":-1}`)) != nil {
				return
			}
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-ch:
					if c.Write(ctx, websocket.MessageText, m) != nil {
						return
					}
				}
			}
		}))
		results = append(results, runFanout(t, "bare coder/websocket broadcast", fanoutTarget{
			url: "ws" + strings.TrimPrefix(srv.URL, "http"), mode: "bare",
			publish: func(k int) {
				m := []byte(fmt.Sprintf(`{"round":%d}`, k))
				mu.Lock()
				for ch := range conns {
					select {
					case ch <- m:
					default: // a slow client misses it, as with the broker
					}
				}
				mu.Unlock()
			},
			active: func() int { return int(open.Load()) },
		}, n, rounds))
		srv.Close()
	}

	// Signet: the real handler on SQLite, one flow watched by n connections.
	{
		s := apitest.Start(t, dbtest.SQLite(t), apitest.Options{})
		token := s.Register("13800000001", passA)
		var created struct{ CreateFlow struct{ ID string } }
		s.MustDo(token, `mutation { createFlow(input: {name: "广播测试"}) { id } }`, nil, &created)
		fid, _ := strconv.Atoi(created.CreateFlow.ID)
		broker := s.App.Events.(*events.Local)
		before := broker.Subscribers() // the node's own (accounts' session watcher)
		results = append(results, runFanout(t, "Signet flowUpdated (graphql-transport-ws)", fanoutTarget{
			url: "ws" + strings.TrimPrefix(s.URL, "http") + "/graphql", origin: s.URL, token: token,
			flowID: created.CreateFlow.ID, mode: "signet",
			publish: func(k int) {
				broker.Publish(context.Background(), events.Event{Topic: events.FlowTopic(fid), Kind: "participant.viewed", ID: k + 1})
			},
			active: func() int { return broker.Subscribers() - before },
		}, n, rounds))
	}

	for _, r := range results {
		t.Logf("%-45s conns=%d rounds=%d setup=%v mem/conn=%.1f KB (heap %.1f [live objects %.1f], stacks %.1f; RSS %.1f KB; after broadcasts %.1f KB) goroutines/conn=%.1f broadcast p50=%v p99=%v max=%v missing=%d server CPU/frame=%v",
			r.name, r.conns, r.rounds, r.setup.Round(time.Millisecond), r.perConnKB, r.heapKB, r.liveKB, r.stackKB, r.rssKB, r.afterKB, r.goroutinesPerConn,
			r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.max.Round(time.Millisecond), r.missing,
			r.cpuPerFrame.Round(100*time.Nanosecond))
	}
}

// TestWebsocketFanoutClients is the client side of TestWebsocketFanout,
// run in a child process.
func TestWebsocketFanoutClients(t *testing.T) {
	if os.Getenv("SIGNET_BENCH_WS_CHILD") == "" {
		t.Skip("the client side of TestWebsocketFanout")
	}
	n := benchutil.EnvInt("SIGNET_BENCH_WS_CONNS", 10000)
	rounds := benchutil.EnvInt("SIGNET_BENCH_WS_ROUNDS", 20)
	raiseFileLimit(t, n+1000)
	mode, url, origin := os.Getenv("SIGNET_BENCH_WS_MODE"), os.Getenv("SIGNET_BENCH_WS_URL"), os.Getenv("SIGNET_BENCH_WS_ORIGIN")
	token, flowID := os.Getenv("SIGNET_BENCH_WS_TOKEN"), os.Getenv("SIGNET_BENCH_WS_FLOW")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	arrivals := make([][]int64, rounds)
	for k := range arrivals {
		arrivals[k] = make([]int64, n)
	}
	counts := make([]atomic.Int64, rounds)
	var out sync.Mutex
	say := func(s string) { out.Lock(); fmt.Println(s); out.Unlock() }

	roundOf := func(msg []byte) int {
		key := []byte(`"round":`)
		if mode == "signet" {
			key = []byte(`"subjectID":`)
		}
		i := bytes.Index(msg, key)
		if i < 0 {
			return -2
		}
		rest := bytes.TrimLeft(msg[i+len(key):], `"`)
		j := 0
		for j < len(rest) && (rest[j] == '-' || rest[j] >= '0' && rest[j] <= '9') {
			j++
		}
		k, err := strconv.Atoi(string(rest[:j]))
		if err != nil {
			return -2
		}
		if mode == "signet" {
			k-- // subjectID is round+1
		}
		return k
	}

	var ready sync.WaitGroup
	ready.Add(n)
	sem := make(chan struct{}, 64)
	conns := make([]*websocket.Conn, n)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem }()
			h := http.Header{}
			if origin != "" {
				h.Set("Origin", origin)
			}
			opts := &websocket.DialOptions{HTTPHeader: h}
			if mode == "signet" {
				opts.Subprotocols = []string{"graphql-transport-ws"}
			}
			var c *websocket.Conn
			var err error
			for try := 0; try < 5; try++ {
				dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
				c, _, err = websocket.Dial(dctx, url, opts)
				dcancel()
				if err == nil {
					break
				}
				time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "dial %d: %v\n", i, err)
				os.Exit(2)
			}
			c.SetReadLimit(1 << 20)
			conns[i] = c
			if mode == "signet" {
				c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":{"authorization":"Bearer `+token+`"}}`))
				c.Write(ctx, websocket.MessageText, []byte(`{"id":"1","type":"subscribe","payload":{"query":"subscription($id: ID!) { flowUpdated(id: $id) { kind subjectID status } }","variables":{"id":"`+flowID+`"}}}`))
			}
			go func() {
				first := true
				for {
					// No deadline: with one, coder/websocket arms and disarms a
					// context.AfterFunc per read, client work that slows both
					// rows' latency on a shared machine. Close ends the reads.
					_, msg, err := c.Read(context.Background())
					if err != nil {
						if first {
							fmt.Fprintf(os.Stderr, "conn %d: %v\n", i, err)
							os.Exit(2)
						}
						return
					}
					now := time.Now().UnixNano()
					if mode == "signet" && !bytes.Contains(msg, []byte(`"type":"next"`)) {
						if bytes.Contains(msg, []byte(`"type":"ping"`)) { // as graphql-ws does
							c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
						}
						continue // connection_ack, pong
					}
					if first {
						first = false
						ready.Done()
						continue
					}
					k := roundOf(msg)
					if k < 0 || k >= rounds {
						continue
					}
					arrivals[k][i] = now
					if counts[k].Add(1) == int64(n) {
						say(fmt.Sprintf("ROUND %d", k))
					}
				}
			}()
		}(i)
	}
	ready.Wait()
	say("READY")
	io.Copy(io.Discard, os.Stdin) // until the parent is done
	time.Sleep(2 * time.Second)   // late frames of an incomplete round
	b, _ := json.Marshal(arrivals)
	say("ARRIVALS " + string(b))
	for _, c := range conns {
		c.Close(websocket.StatusNormalClosure, "")
	}
}
