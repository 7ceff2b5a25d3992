package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"signet/audit"
	"signet/config"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/ent/signfield"
	"signet/ent/smscode"
	"signet/flows"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/verify"
	"signet/viewer"
)

// The hosted signing path under SIGKILL (issue 4 point 10): signFlow with
// the platform-held certificate plans, uses up the intent code, signs every
// document (PAdES B-T), writes each new revision to the blob store and only
// then commits revision, participant, trail and the next signer's job in one
// transaction. TestCrashDuringHostedSign kills a server process that is busy
// with many such signatures at once, at a few points, and checks after every
// restart that no flow is broken and every one can still be signed.

// hcEnv names the orders file (hcOrders, JSON) of TestHostedSignServerProcess:
// set, the test binary is the server process TestCrashDuringHostedSign kills.
const hcEnv = "SIGNET_HOSTED_CRASH_ORDERS"

const (
	hcFlows   = 40 // two-party sequential contracts of two documents each
	hcPeople  = 20 // signers per side: each signs two contracts
	hcWorkers = 4  // concurrent signers in the server process
)

// A person's contracts (i and i+hcPeople) go to the same worker, so a kill
// interrupts at most one of their requests and costs them at most one code:
// with registration, two signatures and five kills no one reaches the ten
// codes a phone may get a day (the clock moves only minutes in this test).

// hcKills are the progress points (signatures completed by that server
// process) at which each server process is killed.
var hcKills = []int{6, 10, 10, 10, 10}

// hcPerson is a signer: real-name verified, with a hosted certificate and a
// personal seal. IP is the client address a trusted proxy reports for them
// (X-Forwarded-For), so the per-IP code limit counts each person apart.
type hcPerson struct {
	Name, Phone, IP, Token, SealID string
}

// hcFlow is a sent contract; Parties sign in this order.
type hcFlow struct {
	ID, Name string
	Parties  []hcPerson
}

// hcOrders tell the server process where the data is and what to sign.
type hcOrders struct {
	Backend dbtest.Backend
	DataDir string
	// Clock is the time the process's clock is set to (it does not move).
	Clock time.Time
	// Alice, the initiator, reads the flows' state.
	Alice string
	Flows []hcFlow
	// Progress is the file the process appends to: "try <flow> <order>
	// <code>" before each signFlow, "done <flow> <order>" after it
	// succeeded, "error ..." when something went wrong, "idle" when
	// everything is signed.
	Progress string
}

// TestCrashDuringHostedSign kills (SIGKILL) a real server process while it
// serves hosted signatures through the GraphQL API, four at a time, on
// SQLite and on PostgreSQL; five processes in turn, each killed after a
// number of signatures, so the kill lands at arbitrary points of the others
// (including between the signature and its commit). After every kill the
// server starts again on the same database and data dir and checks every
// flow (hcCheck): statuses consistent, each document's current revision the
// stored PDF and valid with exactly its parties' signatures, fields and trail
// agreeing. The requests the kill interrupted are retried as a client would:
// one that committed is refused as signed, any other signs with the same
// code — the intent code is used up only by the commit that signs, so a dead
// request never spends it — and a retried completed request signs nothing
// more. At the end every flow is signed to completion through
// the API and every signature is valid in verify and in poppler's pdfsig.
//
// A signature's revision is staged in its own commit (flows/staged.go), so
// a request that dies before committing leaves no revision behind; one that
// committed may leave its revision staged, not yet in the blob store, and
// every read below goes through flows.Service.OpenRevision, which finds it
// in either. A completion job killed between storing its revision and its
// update does leave an orphan blob (removed by the blob sweep after a day);
// the test counts and logs the orphans.
//
// Jobs the dead process had taken — the next signer's signing-link SMS, a
// completed flow's completion (validation data, document time-stamp,
// evidence report, notices) — stay "running" in River until its rescuer
// retries them after jobs.Config.RescueAfter (10 minutes by default). The
// flows stay consistent and signable meanwhile (that the jobs exist is
// checked), but that SMS and that sealing wait that long, and a job that had
// done its work before the kill runs again (an SMS may be sent twice:
// delivery is at least once). The test logs them.
func TestCrashDuringHostedSign(t *testing.T) {
	for _, kind := range dbtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			began := time.Now()
			dir := t.TempDir()
			b := dbtest.Backend{Name: "sqlite", SQLitePath: filepath.Join(dir, "signet.db")}
			if kind == "postgres" {
				b = dbtest.Postgres(t)
			}
			h := &hcHarness{b: b, dir: dir, tally: map[string]int{}}
			if !t.Run("setup", h.setup) {
				return
			}
			for r, target := range hcKills {
				h.crash(t, r+1, target)
				last := r == len(hcKills)-1
				if !t.Run(fmt.Sprintf("restart%d", r+1), func(t *testing.T) { h.restart(t, last) }) {
					return
				}
			}
			t.Logf("%s: %d kills in %v; interrupted requests: %v; orphan signed revisions left: %d",
				kind, len(hcKills), time.Since(began).Round(time.Second), h.tally, h.orphans)
		})
	}
}

// hcHarness is one backend's run.
type hcHarness struct {
	b     dbtest.Backend
	dir   string
	clock time.Time // the last process's clock
	alice string
	flows []hcFlow
	// inflight are the signFlow requests the last kill interrupted (a try
	// without its done), lastDone the last one that completed.
	inflight []hcAttempt
	lastDone *hcAttempt
	tally    map[string]int
	orphans  int
}

type hcAttempt struct {
	Flow, Order int
	Code        string
}

// hcOptions serve on the shared data dir behind a trusted local proxy.
func hcOptions(dir string) apitest.Options {
	return apitest.Options{Configure: func(c *config.Config) {
		c.DataDir = dir
		_, lo, _ := net.ParseCIDR("127.0.0.1/32")
		c.TrustedProxies = append(c.TrustedProxies, lo)
	}}
}

// nextClock is the clock of the next process: two minutes after the last
// one's (past the code resend interval, within a code's five minutes), and
// never behind the real time (the platform CA and TSA use the real time).
func (h *hcHarness) nextClock() time.Time {
	next := h.clock.Add(2 * time.Minute)
	if now := time.Now(); now.After(next) {
		next = now
	}
	h.clock = next
	return next
}

// start serves an instance on the run's data until t ends.
func (h *hcHarness) start(t *testing.T) *apitest.Server {
	t.Helper()
	s := apitest.Start(t, h.b, hcOptions(h.dir))
	s.Clock.Advance(h.nextClock().Sub(s.Clock.Now()))
	return s
}

// setup registers alice and the signers and has alice send the contracts.
func (h *hcHarness) setup(t *testing.T) {
	s := h.start(t)
	h.alice = s.Register("13800000001", passA)
	given := []rune("甲乙丙丁戊己庚辛壬癸")
	last := []rune("明华")
	var people [2][]hcPerson
	for side, surname := range []string{"赵", "钱"} {
		for i := range hcPeople {
			p := hcPerson{Name: surname + string(given[i%10]) + string(last[i/10]), Phone: fmt.Sprintf("139%02d%06d", side+1, i+1), IP: fmt.Sprintf("10.77.%d.%d", side+1, i+1)}
			p.Token = s.Register(p.Phone, passA)
			verifyRealName(t, s, p.Token, p.Name, hcIDNumber(side*hcPeople+i), p.Phone)
			p.SealID = personalSeal(t, s, p.Token)
			people[side] = append(people[side], p)
		}
	}
	for i := range hcFlows {
		f := hcFlow{Name: fmt.Sprintf("断电合同%02d", i+1), Parties: []hcPerson{people[0][i%hcPeople], people[1][(i+3)%hcPeople]}}
		var created struct{ CreateFlow struct{ ID string } }
		s.MustDo(h.alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`, map[string]any{"in": map[string]any{"name": f.Name}}, &created)
		f.ID = created.CreateFlow.ID
		var fields []map[string]any
		for d, pages := range []int{1, 2} {
			st, doc := upload(t, s, h.alice, f.ID, fmt.Sprint("附件", d+1), testpdf.Make(pages))
			if st != http.StatusCreated {
				t.Fatalf("upload = %d %v", st, doc)
			}
			id := fmt.Sprint(doc["id"])
			fields = append(fields,
				map[string]any{"documentID": id, "participantKey": "a", "kind": "personal_seal", "page": 1, "x": 100, "y": 100, "width": 120, "height": 60},
				map[string]any{"documentID": id, "participantKey": "b", "kind": "personal_seal", "page": pages, "x": 320, "y": 100, "width": 120, "height": 60})
		}
		s.MustDo(h.alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
			"id": f.ID, "in": map[string]any{"name": f.Name, "ordered": true,
				"participants": []map[string]any{
					{"key": "a", "name": f.Parties[0].Name, "phone": f.Parties[0].Phone, "order": 1},
					{"key": "b", "name": f.Parties[1].Name, "phone": f.Parties[1].Phone, "order": 2},
				},
				"fields": fields,
			}}, nil)
		s.MustDo(h.alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": f.ID}, nil)
		h.flows = append(h.flows, f)
	}
	h.clock = s.Clock.Now()
	hcCheck(t, s, h.flows)
}

// crash runs server process n until it has completed target signatures (or
// has nothing left), kills it with SIGKILL and reads what it was doing.
func (h *hcHarness) crash(t *testing.T, n, target int) {
	t.Helper()
	orders := hcOrders{Backend: h.b, DataDir: h.dir, Clock: h.nextClock(), Alice: h.alice, Flows: h.flows,
		Progress: filepath.Join(h.dir, fmt.Sprintf("progress%d.txt", n))}
	raw, _ := json.Marshal(orders)
	ordersPath := filepath.Join(h.dir, fmt.Sprintf("orders%d.json", n))
	if err := os.WriteFile(ordersPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(h.dir, fmt.Sprintf("tmp%d", n)) // its t.TempDir, which SIGKILL leaves behind
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(h.dir, fmt.Sprintf("server%d.log", n))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostedSignServerProcess$", "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), hcEnv+"="+ordersPath, "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = logf, logf
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	serverLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.After(3 * time.Minute)
	for {
		p := hcReadProgress(t, orders.Progress)
		if len(p.errors) > 0 {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("server process %d: %s\n%s", n, strings.Join(p.errors, "\n"), serverLog())
		}
		if p.done >= target || p.idle {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("server process %d: %v, want killed\n%s", n, err, serverLog())
			}
			// What it wrote up to the kill (the last reading may have
			// missed lines written since).
			p = hcReadProgress(t, orders.Progress)
			if len(p.errors) > 0 {
				t.Fatalf("server process %d: %s\n%s", n, strings.Join(p.errors, "\n"), serverLog())
			}
			h.inflight, h.lastDone = p.inflight, p.lastDone
			t.Logf("server process %d killed after %v: %d signatures done, %d requests in flight, idle=%v",
				n, time.Since(began).Round(time.Millisecond), p.done, len(p.inflight), p.idle)
			if os.Getenv("SIGNET_CRASH_LOG") != "" {
				t.Log(serverLog())
			}
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("server process %d ended before it was killed: %v\n%s", n, err, serverLog())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("server process %d did not sign %d contracts in time\n%s", n, target, serverLog())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// hcProgress is what a server process reported.
type hcProgress struct {
	done     int
	idle     bool
	errors   []string
	inflight []hcAttempt
	lastDone *hcAttempt
}

func hcReadProgress(t *testing.T, path string) hcProgress {
	t.Helper()
	var p hcProgress
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return p
	}
	if err != nil {
		t.Fatal(err)
	}
	tries := map[[2]int]hcAttempt{}
	var order [][2]int
	for line := range strings.Lines(string(data)) {
		if !strings.HasSuffix(line, "\n") {
			break // being written
		}
		var a hcAttempt
		switch {
		case strings.HasPrefix(line, "try "):
			fmt.Sscanf(line, "try %d %d %s", &a.Flow, &a.Order, &a.Code)
			k := [2]int{a.Flow, a.Order}
			tries[k] = a
			order = append(order, k)
		case strings.HasPrefix(line, "done "):
			fmt.Sscanf(line, "done %d %d", &a.Flow, &a.Order)
			k := [2]int{a.Flow, a.Order}
			if tr, ok := tries[k]; ok {
				a.Code = tr.Code
			}
			delete(tries, k)
			p.done++
			p.lastDone = &a
		case line == "idle\n":
			p.idle = true
		default:
			p.errors = append(p.errors, strings.TrimSpace(line))
		}
	}
	for _, k := range order {
		if a, ok := tries[k]; ok {
			p.inflight = append(p.inflight, a)
			delete(tries, k)
		}
	}
	return p
}

// restart serves on the data a killed process left, checks every flow,
// retries what the kill interrupted and, the last time, signs every flow to
// completion.
func (h *hcHarness) restart(t *testing.T, last bool) {
	began := time.Now()
	s := h.start(t)
	h.report(t, s, began)
	hcCheck(t, s, h.flows)
	for _, a := range h.inflight {
		h.retryInterrupted(t, s, a)
	}
	if a := h.lastDone; a != nil {
		// The answer arrived; the client sends it again anyway.
		f := h.flows[a.Flow]
		before := hcSignedEvents(t, s, f.ID)
		r := hcSign(s, f, a.Order, a.Code)
		if r.Code() != "CONFLICT" || hcSignedEvents(t, s, f.ID) != before {
			t.Fatalf("%s: signed request retried: %q %q", f.Name, r.Code(), r.Message())
		}
	}
	hcCheck(t, s, h.flows)
	if last {
		h.finish(t, s)
	}
}

// report logs what the kill left behind that no request will pick up: jobs
// River still counts as running on the dead process (its rescuer retries
// them only after jobs.Config.RescueAfter, 10 minutes by default), and orphan
// signed revisions (written before this server began).
func (h *hcHarness) report(t *testing.T, s *apitest.Server, began time.Time) {
	t.Helper()
	c, err := s.App.Jobs.Client()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.App.DB.SQL.QueryContext(context.Background(), `SELECT kind, attempted_by FROM river_job WHERE state = 'running' ORDER BY kind`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	stuck := map[string]int{}
	for rows.Next() {
		var kind string
		var by []byte
		if err := rows.Scan(&kind, &by); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(by, []byte(c.ID())) { // not this server's work in progress
			stuck[kind]++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var revisions int
	h.orphans, revisions = hcOrphans(t, s, h.dir, began)
	t.Logf("after the kill: jobs left running by the dead process: %v; orphan signed revisions: %d of %d", stuck, h.orphans, revisions)
}

// retryInterrupted sends an interrupted signFlow again, as a client whose
// request failed would, and checks the answer against what the dead request
// left in the database.
func (h *hcHarness) retryInterrupted(t *testing.T, s *apitest.Server, a hcAttempt) {
	t.Helper()
	ctx := viewer.System(context.Background())
	f := h.flows[a.Flow]
	fid := hcID(f.ID)
	p, err := s.App.DB.Client.Participant.Query().Where(participant.FlowID(fid), participant.RoleEQ(participant.RoleSigner), participant.SignOrder(a.Order)).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.App.DB.Client.SMSCode.Query().Where(smscode.Phone(p.Phone), smscode.Purpose(string(flows.PurposeIntent)),
		smscode.ScopeHasPrefix(fmt.Sprintf("f%d:p%d:", fid, p.ID))).Order(ent.Desc(smscode.FieldCreatedAt), ent.Desc(smscode.FieldID)).First(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := hcSignedEvents(t, s, f.ID)
	r := hcSign(s, f, a.Order, a.Code)
	switch {
	case p.Status == participant.StatusSigned:
		// Committed; the answer was lost with the process. Refused as
		// signed (您已签署该合同), or, the last party, as completed.
		if r.Code() != "CONFLICT" || !strings.Contains(r.Message(), "已签署") && !strings.Contains(r.Message(), "已完成") ||
			hcSignedEvents(t, s, f.ID) != before {
			t.Fatalf("%s party %d: retrying a committed signature: %q %q", f.Name, a.Order, r.Code(), r.Message())
		}
		h.tally["committed, answer lost"]++
	case code.ConsumedAt != nil:
		// The code is used up in the signing commit (flows.Service.Sign):
		// used but not signed would be a spent code with nothing to show.
		t.Fatalf("%s party %d: the dead request used the code up and committed nothing (retry: %q %q)", f.Name, a.Order, r.Code(), r.Message())
	default:
		// The request died before its commit: the retry signs, with the
		// same code.
		if r.Code() != "" {
			t.Fatalf("%s party %d: retrying a request that never committed: %q %q", f.Name, a.Order, r.Code(), r.Message())
		}
		h.tally["not committed, signed on retry"]++
	}
	if got := hcSignedEvents(t, s, f.ID); p.Status != participant.StatusSigned && got == before {
		t.Fatalf("%s party %d: not signed after the retry", f.Name, a.Order)
	}
	// Signed once: another retry is refused.
	if r := hcSign(s, f, a.Order, a.Code); r.Code() == "" {
		t.Fatalf("%s party %d: signed again", f.Name, a.Order)
	}
}

// finish signs every unfinished flow to completion through the API, then
// checks that every document carries both signatures, valid in verify and in
// pdfsig, and that a used code signs nothing more.
func (h *hcHarness) finish(t *testing.T, s *apitest.Server) {
	t.Helper()
	var last *hcAttempt
	for i, f := range h.flows {
		for {
			st := hcFlowState(t, s, h.alice, f.ID)
			if st.Status != "signing" {
				break
			}
			k := st.pending()
			if k == 0 {
				t.Fatalf("%s: signing with nobody pending: %+v", f.Name, st)
			}
			code := hcSignAnew(t, s, f, k)
			last = &hcAttempt{Flow: i, Order: k, Code: code}
		}
	}
	states := hcCheck(t, s, h.flows)
	if states["completed"] != len(h.flows) {
		t.Fatalf("after signing everything: %v", states)
	}
	valid := hcPdfsig(t, s)
	ctx := viewer.System(context.Background())
	for _, f := range h.flows {
		docs, err := s.App.DB.Client.FlowDocument.Query().Where(flowdocument.FlowID(hcID(f.ID))).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if n := valid(hcBlob(t, s, d.CurrentKey)); n >= 0 && n != 2 {
				t.Fatalf("%s document %d: pdfsig finds %d valid signatures, want 2", f.Name, d.ID, n)
			}
		}
	}
	if last != nil {
		f := h.flows[last.Flow]
		before := hcSignedEvents(t, s, f.ID)
		if r := hcSign(s, f, last.Order, last.Code); r.Code() != "CONFLICT" || hcSignedEvents(t, s, f.ID) != before {
			t.Fatalf("%s: the last signature retried with its used code: %q %q", f.Name, r.Code(), r.Message())
		}
	}
}

// TestHostedSignServerProcess is the server process TestCrashDuringHostedSign
// starts and kills: it serves Signet on the orders' data and, four signers at
// a time, signs every contract through the GraphQL API as its parties would
// (a new intent code read from the development outbox, then signFlow),
// reporting each step in the progress file. Run alone it does nothing.
func TestHostedSignServerProcess(t *testing.T) {
	path := os.Getenv(hcEnv)
	if path == "" {
		t.Skip("the server process of TestCrashDuringHostedSign")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o hcOrders
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	s := apitest.Start(t, o.Backend, hcOptions(o.DataDir))
	s.Clock.Advance(o.Clock.Sub(s.Clock.Now()))
	prog, err := os.OpenFile(o.Progress, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(prog, format+"\n", args...) // one write: whole lines survive the kill
	}
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range hcWorkers {
		wg.Go(func() {
			for i := w; i < len(o.Flows) && !failed.Load(); i += hcWorkers {
				if err := hcSignThrough(s, o, i, note); err != nil {
					failed.Store(true)
					note("error: %s: %v", o.Flows[i].Name, err)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		t.Fatal("signing failed: see the progress file")
	}
	note("idle")
	t.Log("everything signed; waiting for SIGKILL")
	time.Sleep(2 * time.Minute) // the parent kills it long before
	t.Fatal("not killed")
}

// hcSignThrough signs flow i party after party.
func hcSignThrough(s *apitest.Server, o hcOrders, i int, note func(string, ...any)) error {
	f := o.Flows[i]
	for {
		var st hcState
		r := s.Do(o.Alice, hcStateQuery, map[string]any{"id": f.ID})
		if len(r.Errors) > 0 {
			return fmt.Errorf("state: %s %s", r.Code(), r.Message())
		}
		if err := json.Unmarshal(r.Data, &st); err != nil {
			return err
		}
		if st.Node.Status != "signing" {
			return nil
		}
		k := st.Node.pending()
		if k == 0 {
			return fmt.Errorf("signing with nobody pending: %+v", st.Node)
		}
		p := f.Parties[k-1]
		in := map[string]any{"flowID": f.ID, "personalSealID": p.SealID}
		if r := hcDo(s, p, hcSendIntent, map[string]any{"in": in}); len(r.Errors) > 0 {
			return fmt.Errorf("party %d: sendIntentCode: %s %s", k, r.Code(), r.Message())
		}
		code, err := hcOutboxCode(s, p.Phone, f.Name)
		if err != nil {
			return err
		}
		note("try %d %d %s", i, k, code)
		if r := hcSign(s, f, k, code); len(r.Errors) > 0 {
			return fmt.Errorf("party %d: signFlow: %s %s", k, r.Code(), r.Message())
		}
		note("done %d %d", i, k)
	}
}

const (
	hcStateQuery = `query($id: ID!) { node(id: $id) { ... on Flow { status participants { signOrder status } } } }`
	hcSendIntent = `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`
)

type hcState struct{ Node hcFlowStatus }

type hcFlowStatus struct {
	Status       string
	Participants []struct {
		SignOrder int
		Status    string
	}
}

// pending returns the sign order of the pending party, 0 when none.
func (st hcFlowStatus) pending() int {
	for _, p := range st.Participants {
		if p.Status == "pending" {
			return p.SignOrder
		}
	}
	return 0
}

func hcFlowState(t *testing.T, s *apitest.Server, token, id string) hcFlowStatus {
	t.Helper()
	var st hcState
	s.MustDo(token, hcStateQuery, map[string]any{"id": id}, &st)
	return st.Node
}

// hcDo posts an operation as p, from p's address behind the proxy.
func hcDo(s *apitest.Server, p hcPerson, query string, vars map[string]any) apitest.Response {
	return s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + p.Token, "X-Forwarded-For": p.IP}, query, vars)
}

// hcSign sends party order's signFlow on f with code.
func hcSign(s *apitest.Server, f hcFlow, order int, code string) apitest.Response {
	p := f.Parties[order-1]
	return hcDo(s, p, signMutation, map[string]any{"in": map[string]any{"flowID": f.ID, "personalSealID": p.SealID, "code": code}})
}

// hcSignAnew has party order sign f with a new intent code and returns it.
func hcSignAnew(t *testing.T, s *apitest.Server, f hcFlow, order int) string {
	t.Helper()
	p := f.Parties[order-1]
	if r := hcDo(s, p, hcSendIntent, map[string]any{"in": map[string]any{"flowID": f.ID, "personalSealID": p.SealID}}); len(r.Errors) > 0 {
		t.Fatalf("%s party %d: sendIntentCode: %s %s", f.Name, order, r.Code(), r.Message())
	}
	code, err := hcOutboxCode(s, p.Phone, f.Name)
	if err != nil {
		t.Fatal(err)
	}
	if r := hcSign(s, f, order, code); len(r.Errors) > 0 {
		t.Fatalf("%s party %d: signFlow: %s %s", f.Name, order, r.Code(), r.Message())
	}
	return code
}

// hcOutboxCode reads the newest 意愿认证 code sent to phone for contract
// from the development outbox (a signer has codes of several contracts).
func hcOutboxCode(s *apitest.Server, phone, contract string) (string, error) {
	status, body := s.Get("/dev/outbox?limit=100&phone=" + url.QueryEscape(phone))
	if status != http.StatusOK {
		return "", fmt.Errorf("outbox: %d %s", status, body)
	}
	var out struct {
		Messages []struct {
			Template string
			Params   map[string]string
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return "", err
	}
	for _, m := range out.Messages {
		if m.Template == "sign_intent" && m.Params["contract"] == contract {
			return m.Params["code"], nil
		}
	}
	return "", fmt.Errorf("no intent code to %s for %s", phone, contract)
}

// hcCheck checks every flow's invariants and returns how many are in each
// state ("first" pending, "second" pending, "completed"):
//   - the flow is signing with the first party pending and the second
//     waiting, or signing with the first signed and the second pending, or
//     completed with both signed;
//   - each document's current revision is the stored PDF (its SHA-256 is
//     the row's) and verifies; it holds exactly the signatures of the
//     parties marked signed, one per field of theirs (told apart by field
//     name, Signet-P<participant>-…), plus at most one document time-stamp
//     on a completed flow; the row's revision counts them; a party's fields
//     are marked applied exactly when the party is signed;
//   - the flow's trail verifies as a hash chain and records each party's
//     signature and each document's signatures once, the completion once;
//   - the jobs the committing transactions queued are there: the signing
//     link of each pending party, the completion of a completed flow.
func hcCheck(t *testing.T, s *apitest.Server, fs []hcFlow) map[string]int {
	t.Helper()
	ctx := viewer.System(context.Background())
	db := s.App.DB.Client
	root, _ := s.App.Trust.CA.RootCertificate()
	completions, links := hcJobs(t, s)
	states := map[string]int{}
	for _, hf := range fs {
		fid := hcID(hf.ID)
		f, err := db.Flow.Get(ctx, fid)
		if err != nil {
			t.Fatal(err)
		}
		parts, err := db.Participant.Query().Where(participant.FlowID(fid), participant.RoleEQ(participant.RoleSigner)).
			Order(ent.Asc(participant.FieldSignOrder)).All(ctx)
		if err != nil || len(parts) != 2 {
			t.Fatalf("%s: participants %v %v", hf.Name, parts, err)
		}
		st := fmt.Sprintf("%s %s/%s", f.Status, parts[0].Status, parts[1].Status)
		switch st {
		case "signing pending/waiting":
			states["first"]++
		case "signing signed/pending":
			states["second"]++
		case "completed signed/signed":
			states["completed"]++
			if f.FinishedAt == nil {
				t.Fatalf("%s: completed without finishedAt", hf.Name)
			}
		default:
			t.Fatalf("%s: inconsistent state %q", hf.Name, st)
		}
		signed := map[int]bool{}
		for _, p := range parts {
			signed[p.ID] = p.Status == participant.StatusSigned
			if p.Status == participant.StatusPending && !links[p.ID] {
				t.Fatalf("%s: party %d pending without a signing-link job", hf.Name, p.SignOrder)
			}
		}
		if f.Status == flow.StatusCompleted && !completions[fid] {
			t.Fatalf("%s: completed without a completion job", hf.Name)
		}
		fields, err := db.SignField.Query().Where(signfield.FlowID(fid)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := db.FlowDocument.Query().Where(flowdocument.FlowID(fid)).All(ctx)
		if err != nil || len(docs) != 2 {
			t.Fatalf("%s: documents %v %v", hf.Name, docs, err)
		}
		wantDocEvents := map[int]int{}
		stamped := map[int]bool{}
		for _, d := range docs {
			pdf := hcBlob(t, s, d.CurrentKey)
			if sum := sha256.Sum256(pdf); hex.EncodeToString(sum[:]) != d.CurrentSha256 {
				t.Fatalf("%s document %d: stored PDF's SHA-256 %x, row says %s", hf.Name, d.ID, sum, d.CurrentSha256)
			}
			rep, err := verify.Verify(pdf, verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: s.App.Trust.CA}})
			if err != nil {
				t.Fatalf("%s document %d: verify: %v", hf.Name, d.ID, err)
			}
			if d.Revision == 0 {
				if d.CurrentSha256 != d.OriginalSha256 || len(rep.Signatures) != 0 {
					t.Fatalf("%s document %d: revision 0 but %d signatures / not the original", hf.Name, d.ID, len(rep.Signatures))
				}
			} else if rep.Verdict != verify.VerdictValid {
				t.Fatalf("%s document %d (revision %d): %s %v", hf.Name, d.ID, d.Revision, rep.Verdict, rep.Reasons)
			}
			bySigner := map[int]int{}
			stamps := 0
			for _, sg := range rep.Signatures {
				if sg.Kind == verify.KindDocTimestamp {
					stamps++
					continue
				}
				var pid int
				if _, err := fmt.Sscanf(sg.FieldName, "Signet-P%d-", &pid); err != nil {
					t.Fatalf("%s document %d: signature field %q", hf.Name, d.ID, sg.FieldName)
				}
				bySigner[pid]++
			}
			if stamps > 1 || stamps == 1 && f.Status != flow.StatusCompleted {
				t.Fatalf("%s document %d: %d document time-stamps on a %s flow", hf.Name, d.ID, stamps, f.Status)
			}
			stamped[d.ID] = stamps == 1
			approvals := 0
			for pid, n := range bySigner {
				if _, ok := signed[pid]; !ok {
					t.Fatalf("%s document %d: %d signatures of participant %d, not a signer", hf.Name, d.ID, n, pid)
				}
				approvals += n
			}
			if d.Revision != approvals+stamps {
				t.Fatalf("%s document %d: revision %d, but the PDF holds %d signatures and %d time-stamps", hf.Name, d.ID, d.Revision, approvals, stamps)
			}
			for _, p := range parts {
				mine, applied := 0, 0
				for _, fd := range fields {
					if fd.DocumentID == d.ID && fd.ParticipantID != nil && *fd.ParticipantID == p.ID {
						mine++
						if fd.AppliedRevision != nil {
							applied++
						}
					}
				}
				want := 0
				if signed[p.ID] {
					want = mine
					if mine > 0 {
						wantDocEvents[d.ID]++
					}
				}
				if bySigner[p.ID] != want || applied != want {
					t.Fatalf("%s document %d: party %d (%s) has %d signatures in the PDF and %d of %d fields applied, want %d",
						hf.Name, d.ID, p.SignOrder, p.Status, bySigner[p.ID], applied, mine, want)
				}
			}
		}

		chain := audit.FlowChain(fid)
		rep, err := audit.Verify(ctx, db, chain)
		if err != nil || !rep.OK() {
			t.Fatalf("%s: trail: %v %+v", hf.Name, err, rep.Problems)
		}
		events, err := db.AuditEvent.Query().Where(auditevent.Chain(chain)).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, e := range events {
			got[fmt.Sprintf("%s %d", e.Action, e.SubjectID)]++
		}
		for _, p := range parts {
			if n, want := got[fmt.Sprintf("%s %d", audit.ParticipantSigned, p.ID)], b2i(signed[p.ID]); n != want {
				t.Fatalf("%s: %d participant.signed events for party %d (%s)", hf.Name, n, p.SignOrder, p.Status)
			}
		}
		for _, d := range docs {
			if n := got[fmt.Sprintf("%s %d", audit.DocumentSigned, d.ID)]; n != wantDocEvents[d.ID] {
				t.Fatalf("%s document %d: %d document.signed events, want %d", hf.Name, d.ID, n, wantDocEvents[d.ID])
			}
			// The completion job may commit a time-stamp after the PDF was read.
			if n := got[fmt.Sprintf("%s %d", audit.DocumentTimestamped, d.ID)]; n > 1 || stamped[d.ID] && n != 1 {
				t.Fatalf("%s document %d: %d document.timestamped events, time-stamp in the PDF %v", hf.Name, d.ID, n, stamped[d.ID])
			}
		}
		if n := got[fmt.Sprintf("%s %d", audit.FlowCompleted, fid)]; n != b2i(f.Status == flow.StatusCompleted) {
			t.Fatalf("%s: %d flow.completed events on a %s flow", hf.Name, n, f.Status)
		}
	}
	t.Logf("flows: %d with the first party pending, %d with the second pending, %d completed", states["first"], states["second"], states["completed"])
	return states
}

// hcJobs reads River's jobs: the flows with a completion job and the
// participants with a signing-link job (single or in a batch), whatever
// their state.
func hcJobs(t *testing.T, s *apitest.Server) (completions, links map[int]bool) {
	t.Helper()
	args := "args::text"
	if s.App.DB.Dialect == dialect.SQLite {
		args = "json(args)" // River keeps SQLite's binary JSONB
	}
	rows, err := s.App.DB.SQL.QueryContext(context.Background(), `SELECT kind, `+args+` FROM river_job WHERE kind IN ('flows.complete', 'flows.notify', 'flows.notify_batch')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	completions, links = map[int]bool{}, map[int]bool{}
	for rows.Next() {
		var kind string
		var args []byte
		if err := rows.Scan(&kind, &args); err != nil {
			t.Fatal(err)
		}
		if kind == "flows.complete" {
			var a flows.CompleteArgs
			if err := json.Unmarshal(args, &a); err != nil {
				t.Fatal(err)
			}
			completions[a.FlowID] = true
			continue
		}
		var ns []flows.Notification
		if kind == "flows.notify_batch" {
			var a flows.NotifyBatchArgs
			if err := json.Unmarshal(args, &a); err != nil {
				t.Fatal(err)
			}
			ns = a.Notifications
		} else {
			var a flows.NotifyArgs
			if err := json.Unmarshal(args, &a); err != nil {
				t.Fatal(err)
			}
			ns = []flows.Notification{a.Notification}
		}
		for _, n := range ns {
			if n.Type == flows.NotifySignLink {
				links[n.ParticipantID] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return completions, links
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hcSignedEvents counts the flow's signature events (documents and parties).
func hcSignedEvents(t *testing.T, s *apitest.Server, id string) int {
	t.Helper()
	n, err := s.App.DB.Client.AuditEvent.Query().Where(auditevent.Chain(audit.FlowChain(hcID(id))),
		auditevent.ActionIn(string(audit.DocumentSigned), string(audit.ParticipantSigned))).Count(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func hcBlob(t *testing.T, s *apitest.Server, key string) []byte {
	t.Helper()
	rc, err := s.App.Flows.OpenRevision(context.Background(), key)
	if err != nil {
		t.Fatalf("blob %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var hcSum = regexp.MustCompile(`[0-9a-f]{64}`)

// hcOrphans counts the signed revisions stored before a time that nothing
// refers to (no document row, no trail event), and all of them: the orphans
// are what requests killed between writing a revision and committing it left
// behind. (Later ones may be this server's completion jobs' work in
// progress.)
func hcOrphans(t *testing.T, s *apitest.Server, dir string, before time.Time) (orphans, revisions int) {
	t.Helper()
	ctx := viewer.System(context.Background())
	known := map[string]bool{}
	events, err := s.App.DB.Client.AuditEvent.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		for _, sum := range hcSum.FindAllString(e.Payload, -1) {
			known[sum] = true
		}
	}
	docs, err := s.App.DB.Client.FlowDocument.Query().All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		known[d.CurrentSha256], known[d.OriginalSha256] = true, true
	}
	err = filepath.WalkDir(filepath.Join(dir, "blobs", "objects", "sha256"), func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		if fi, err := e.Info(); err != nil || !fi.ModTime().Before(before) {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.HasPrefix(b, []byte("%PDF")) && bytes.Contains(b, []byte("/T(Signet-P")) {
			revisions++
			if !known[e.Name()] {
				orphans++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return orphans, revisions
}

// hcPdfsig returns a checker counting the signatures poppler's pdfsig finds
// valid in a PDF, trusting the platform root; it returns -1 without pdfsig.
func hcPdfsig(t *testing.T, s *apitest.Server) func(pdf []byte) int {
	t.Helper()
	if _, err := exec.LookPath("pdfsig"); err != nil {
		t.Log("pdfsig not installed; skipping")
		return func([]byte) int { return -1 }
	}
	dir := t.TempDir()
	root, _ := s.App.Trust.CA.RootCertificate()
	rootPEM := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	nss := filepath.Join(dir, "nss")
	os.Mkdir(nss, 0o700)
	for _, args := range [][]string{{"-N", "-d", "sql:" + nss, "--empty-password"}, {"-A", "-d", "sql:" + nss, "-n", "root", "-t", "CT,C,C", "-i", rootPEM}} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil: %v\n%s", err, out)
		}
	}
	file := filepath.Join(dir, "doc.pdf")
	return func(pdf []byte) int {
		t.Helper()
		if err := os.WriteFile(file, pdf, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("pdfsig", "-nssdir", "sql:"+nss, file).CombinedOutput()
		if err != nil {
			t.Fatalf("pdfsig: %v\n%s", err, out)
		}
		n := 0
		for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
			if strings.Contains(sc.Text(), "Signature Validation: Signature is Valid.") {
				n++
			}
		}
		return n
	}
}

func hcID(id string) int {
	var n int
	fmt.Sscan(id, &n)
	return n
}

// hcIDNumber returns a valid resident ID number (GB 11643 check character).
func hcIDNumber(seq int) string {
	s := fmt.Sprintf("11010519800101%03d", 100+seq)
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := range 17 {
		sum += int(s[i]-'0') * w[i]
	}
	return s + string("10X98765432"[sum%11])
}
