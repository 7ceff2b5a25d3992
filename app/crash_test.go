package app_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signet/config"
	"signet/ent/certificate"
	"signet/ent/pendingsignature"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/keystore"
	"signet/signingcore/pki"
	"signet/signingcore/verify"
	"signet/ukey"
	"signet/ukey/ukeytest"
	"signet/viewer"
)

// crashEnv carries TestCrashServerProcess's orders (crashOrders, JSON): set,
// the test binary is the server process TestCrashSafety kills.
const crashEnv = "SIGNET_CRASH_SERVER"

// crashOrders tell the server process where its data is and what to do.
type crashOrders struct {
	Backend dbtest.Backend
	DataDir string
	// PublicKey is the UKey's public key (PKIX DER): the token stays with
	// the parent, which signs the digests after the restart.
	PublicKey []byte
	// Out is where the process reports what it prepared.
	Out string
}

// crashPrepared is what the server process did before it was killed.
type crashPrepared struct {
	Alice, Bob     string // tokens
	SealID, UKeyFP string
	// Flows each wait on bob's prepared, never completed, UKey signature:
	// the first is signed afresh after the restart, the second resumed.
	Flows []crashFlow
	Now   time.Time
}

type crashFlow struct {
	ID   string
	Docs []crashDoc
	Step ukeyStep
}

type crashDoc struct {
	ID       int
	Revision int
	Sha256   string
}

// TestCrashSafety kills a real server process (SIGKILL) between UKey
// signatures' prepare and complete (issue 4 point 10) on SQLite and on
// PostgreSQL, starts the server again on the same data and checks: the flows
// are still signing and the signer pending, every document's current
// revision is intact (the stored PDF's SHA-256 is the row's and it
// verifies); on one flow a fresh signature voids the one prepared before the
// crash, on the other the pre-crash signature is completed; each signs once
// and a retried completion is refused as already used.
func TestCrashSafety(t *testing.T) {
	for _, kind := range dbtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			var b dbtest.Backend
			if kind == "postgres" {
				b = dbtest.Postgres(t)
			} else {
				b = dbtest.Backend{Name: "sqlite", SQLitePath: filepath.Join(dir, "signet.db")}
			}
			tok := ukeytest.New(t, ukeytest.ECP256)
			pub, err := x509.MarshalPKIXPublicKey(tok.MustPublicKey(t))
			if err != nil {
				t.Fatal(err)
			}
			orders := crashOrders{Backend: b, DataDir: dir, PublicKey: pub, Out: filepath.Join(dir, "prepared.json")}
			prep := runUntilPrepared(t, orders)
			if len(prep.Flows) != 2 {
				t.Fatalf("prepared %d flows", len(prep.Flows))
			}

			// The same data, a new process's worth of state: nothing in memory
			// survives, only the database and the blob store.
			s := apitest.Start(t, b, apitest.Options{Configure: func(c *config.Config) { c.DataDir = dir }})
			// Past the dead server's clock and the SMS resend interval, within
			// the pending signatures' life; the CA stamps certificates with the
			// real time.
			s.Clock.Advance(prep.Now.Add(2 * time.Minute).Sub(s.Clock.Now()))
			sys := viewer.System(context.Background())

			// Both flows still signing, bob still pending, nothing half-made.
			for _, f := range prep.Flows {
				crashFlowState(t, s, prep.Bob, f.ID, "signing", "pending")
				for _, d := range f.Docs {
					got := crashDocument(t, s, d.ID, 1)
					if got.Revision != d.Revision || got.Sha256 != d.Sha256 {
						t.Fatalf("document %d after the crash = rev %d %s, before = rev %d %s", d.ID, got.Revision, got.Sha256, d.Revision, d.Sha256)
					}
				}
				if row, err := s.App.DB.Client.PendingSignature.Get(sys, crashID(f.Step.PendingID)); err != nil || row.Status != pendingsignature.StatusPending {
					t.Fatalf("pending signature after the crash: %v %+v", err, row)
				}
			}
			fresh, resumed := prep.Flows[0], prep.Flows[1]

			// Flow 1: bob starts again (his page lost the digests with the
			// crash): a new code and prepare void the old pending signature.
			in := map[string]any{"flowID": fresh.ID, "personalSealID": prep.SealID, "ukeyCertificate": prep.UKeyFP}
			s.MustDo(prep.Bob, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`,
				map[string]any{"in": map[string]any{"flowID": fresh.ID, "personalSealID": prep.SealID}}, nil)
			in["code"] = s.LastCode("13800000002")
			var again struct{ PrepareUKeySign ukeyStep }
			s.MustDo(prep.Bob, prepareUKey, map[string]any{"in": in}, &again)
			step := again.PrepareUKeySign
			if step.Done || step.PendingID == "" || step.PendingID == fresh.Step.PendingID || len(step.Digests) != len(fresh.Docs) {
				t.Fatalf("prepared again: %+v", step)
			}
			if row, err := s.App.DB.Client.PendingSignature.Get(sys, crashID(fresh.Step.PendingID)); err != nil || row.Status == pendingsignature.StatusPending {
				t.Fatalf("the pre-crash pending signature is still live: %v %+v", err, row)
			}
			// Even correctly signed, the pre-crash digests no longer complete.
			old := crashSign(t, tok, fresh.Step)
			if r := s.Do(prep.Bob, completeUKey, map[string]any{"in": old}); r.Code() != "CONFLICT" || !strings.Contains(r.Message(), "失效") {
				t.Fatalf("completing the pre-crash signature: %q %q", r.Code(), r.Message())
			}
			crashFlowState(t, s, prep.Bob, fresh.ID, "signing", "pending")
			crashComplete(t, s, prep.Bob, crashSign(t, tok, step))
			if r := s.Do(prep.Bob, completeUKey, map[string]any{"in": old}); r.Code() != "CONFLICT" {
				t.Fatalf("completing the pre-crash signature after the fresh one: %q %q", r.Code(), r.Message())
			}

			// Flow 2: the pre-crash pending signature survived in the database
			// and the blob store: the helper's signatures complete it.
			crashComplete(t, s, prep.Bob, crashSign(t, tok, resumed.Step))

			for _, f := range prep.Flows {
				crashFlowState(t, s, prep.Bob, f.ID, "completed", "signed")
				for _, d := range f.Docs {
					if got := crashDocument(t, s, d.ID, 2); got.Revision <= d.Revision {
						t.Fatalf("document %d: revision %d after bob's signature, %d before", d.ID, got.Revision, d.Revision)
					}
				}
			}
		})
	}
}

// crashComplete completes a UKey signature, which completes the flow, and
// retries the completion (the answer lost on the way): refused as already
// used, it signs nothing more.
func crashComplete(t *testing.T, s *apitest.Server, token string, done map[string]any) {
	t.Helper()
	var out struct{ CompleteUKeySign ukeyStep }
	s.MustDo(token, completeUKey, map[string]any{"in": done}, &out)
	if !out.CompleteUKeySign.Done || out.CompleteUKeySign.Flow == nil || out.CompleteUKeySign.Flow.Status != "completed" {
		t.Fatalf("completed %+v", out.CompleteUKeySign)
	}
	if r := s.Do(token, completeUKey, map[string]any{"in": done}); r.Code() != "CONFLICT" || !strings.Contains(r.Message(), "已处理") {
		t.Fatalf("completing twice: %q %q", r.Code(), r.Message())
	}
}

func crashID(id string) int {
	var n int
	fmt.Sscan(id, &n)
	return n
}

// runUntilPrepared runs the server process until it reports the prepared
// signature, then kills it with SIGKILL.
func runUntilPrepared(t *testing.T, orders crashOrders) crashPrepared {
	t.Helper()
	raw, _ := json.Marshal(orders)
	tmp := filepath.Join(orders.DataDir, "tmp") // its t.TempDir, which SIGKILL leaves behind
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(orders.DataDir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashServerProcess$", "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), crashEnv+"="+string(raw), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	serverLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.After(45 * time.Second)
	for {
		if data, err := os.ReadFile(orders.Out); err == nil {
			var prep crashPrepared
			if err := json.Unmarshal(data, &prep); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
				t.Fatalf("server process: %v, want killed\n%s", err, serverLog())
			}
			t.Logf("killed the server process after it prepared %d UKey signatures", len(prep.Flows))
			if os.Getenv("SIGNET_CRASH_LOG") != "" {
				t.Log(serverLog())
			}
			return prep
		}
		select {
		case err := <-exited:
			t.Fatalf("server process ended before preparing: %v\n%s", err, serverLog())
		case <-deadline:
			cmd.Process.Kill()
			<-exited
			t.Fatalf("server process did not prepare in time\n%s", serverLog())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestCrashServerProcess is the server process TestCrashSafety starts and
// kills: it serves a fresh instance, drives a contract to bob's prepared
// UKey signature through the API, reports it and waits to be killed. Run
// alone it does nothing.
func TestCrashServerProcess(t *testing.T) {
	raw := os.Getenv(crashEnv)
	if raw == "" {
		t.Skip("the server process of TestCrashSafety")
	}
	var orders crashOrders
	if err := json.Unmarshal([]byte(raw), &orders); err != nil {
		t.Fatal(err)
	}
	s := apitest.Start(t, orders.Backend, apitest.Options{Configure: func(c *config.Config) { c.DataDir = orders.DataDir }})
	s.Clock.Advance(time.Until(s.Clock.Now()) * -1) // the CA stamps certificates with the real time
	alice := s.Register("13800000001", passA)
	bob := s.Register("13800000002", passA)
	carol := s.Register("13800000003", passA)
	verifyRealName(t, s, bob, "王小明", "11010519491231002X", "13800000002")
	verifyRealName(t, s, carol, "李四", "110105194912310038", "13800000003")

	// Bob's UKey (the parent holds the token): a person certificate from the
	// platform CA for its key, bound to his account.
	ctx := context.Background()
	sys := viewer.System(ctx)
	pub, err := x509.ParsePKIXPublicKey(orders.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ Me struct{ ID string } }
	s.MustDo(bob, `{ me { id } }`, nil, &me)
	var uid int
	fmt.Sscan(me.Me.ID, &uid)
	hosted, err := s.App.DB.Client.Certificate.Query().Where(certificate.UserID(uid)).Only(sys)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := s.App.Trust.CA.IssuePerson(ctx, pki.PersonRequest{Name: "王小明", SubjectID: hosted.SubjectID, Key: pki.SubjectKey{PublicKey: pub}})
	if err != nil {
		t.Fatal(err)
	}
	fp := ukey.Fingerprint(iss.DER())
	if _, err := s.App.DB.Client.UKeyBinding.Create().SetUserID(uid).SetFingerprint(fp).SetSerial(iss.Serial).
		SetSubject(iss.Certificate.Subject.String()).SetDer(iss.DER()).SetNotAfter(iss.Certificate.NotAfter).SetBoundAt(time.Now()).Save(sys); err != nil {
		t.Fatal(err)
	}

	seal := personalSeal(t, s, bob)
	cseal := personalSeal(t, s, carol)
	out := crashPrepared{Alice: alice, Bob: bob, SealID: seal, UKeyFP: fp}
	for n := 0; n < 2; n++ {
		out.Flows = append(out.Flows, crashPrepare(t, s, alice, bob, carol, seal, cseal, fp))
		s.Clock.Advance(61 * time.Second) // the SMS resend interval
	}
	out.Now = s.Clock.Now()
	data, _ := json.Marshal(out)
	if err := os.WriteFile(orders.Out+".part", data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(orders.Out+".part", orders.Out); err != nil {
		t.Fatal(err)
	}
	t.Log("prepared; waiting for SIGKILL")
	time.Sleep(2 * time.Minute) // the parent kills it long before
	t.Fatal("not killed")
}

// crashPrepare drives a contract of two documents to bob's prepared UKey
// signature: carol signs first (hosted), then bob prepares.
func crashPrepare(t *testing.T, s *apitest.Server, alice, bob, carol, seal, cseal, fp string) crashFlow {
	t.Helper()
	var created struct{ CreateFlow struct{ ID string } }
	s.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`, map[string]any{"in": map[string]any{"name": "断电合同"}}, &created)
	fid := created.CreateFlow.ID
	var docIDs []int
	var fields []map[string]any
	for i, pages := range []int{2, 3} {
		st, doc := upload(t, s, alice, fid, fmt.Sprint("附件", i+1), testpdf.Make(pages))
		if st != http.StatusCreated {
			t.Fatalf("upload = %d %v", st, doc)
		}
		id := fmt.Sprint(doc["id"])
		docIDs = append(docIDs, crashID(id))
		fields = append(fields,
			map[string]any{"documentID": id, "participantKey": "c", "kind": "personal_seal", "page": 1, "x": 300, "y": 80, "width": 100, "height": 50},
			map[string]any{"documentID": id, "participantKey": "b", "kind": "personal_seal", "page": pages, "x": 100, "y": 100, "width": 120, "height": 60})
	}
	s.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
		"id": fid, "in": map[string]any{"name": "断电合同", "ordered": true,
			"participants": []map[string]any{
				{"key": "c", "name": "李四", "phone": "13800000003", "order": 1},
				{"key": "b", "name": "王小明", "phone": "13800000002", "order": 2},
			},
			"fields": fields,
		}}, nil)
	s.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)

	cin := map[string]any{"flowID": fid, "personalSealID": cseal}
	s.MustDo(carol, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": cin}, nil)
	cin["code"] = s.LastCode("13800000003")
	s.MustDo(carol, signMutation, map[string]any{"in": cin}, nil)

	s.MustDo(bob, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`,
		map[string]any{"in": map[string]any{"flowID": fid, "personalSealID": seal}}, nil)
	in := map[string]any{"flowID": fid, "personalSealID": seal, "ukeyCertificate": fp, "code": s.LastCode("13800000002")}
	var prep struct{ PrepareUKeySign ukeyStep }
	s.MustDo(bob, prepareUKey, map[string]any{"in": in}, &prep)
	if prep.PrepareUKeySign.Done || len(prep.PrepareUKeySign.Digests) != 2 {
		t.Fatalf("prepared %+v", prep.PrepareUKeySign)
	}
	f := crashFlow{ID: fid, Step: prep.PrepareUKeySign}
	for _, id := range docIDs {
		d, err := s.App.DB.Client.FlowDocument.Get(viewer.System(context.Background()), id)
		if err != nil {
			t.Fatal(err)
		}
		f.Docs = append(f.Docs, crashDoc{ID: id, Revision: d.Revision, Sha256: d.CurrentSha256})
	}
	return f
}

// crashFlowState checks the flow's and bob's status as bob sees them.
func crashFlowState(t *testing.T, s *apitest.Server, bob, flowID, flowStatus, bobStatus string) {
	t.Helper()
	var out struct {
		Node struct {
			Status       string
			Participants []struct{ Name, Status string }
		}
	}
	s.MustDo(bob, `query($id: ID!) { node(id: $id) { ... on Flow { status participants { name status } } } }`, map[string]any{"id": flowID}, &out)
	if out.Node.Status != flowStatus || len(out.Node.Participants) != 2 {
		t.Fatalf("flow = %+v, want %q with two participants", out.Node, flowStatus)
	}
	for _, p := range out.Node.Participants {
		want := "signed"
		if p.Name == "王小明" {
			want = bobStatus
		}
		if p.Status != want {
			t.Fatalf("participant %s = %q, want %q", p.Name, p.Status, want)
		}
	}
}

// crashDocument checks one document's current revision: the stored PDF is
// the one the row names (SHA-256), and it verifies with the approval
// signatures expected.
func crashDocument(t *testing.T, s *apitest.Server, id, signatures int) crashDoc {
	t.Helper()
	ctx := context.Background()
	d, err := s.App.DB.Client.FlowDocument.Get(viewer.System(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.App.Blobs.Get(ctx, d.CurrentKey)
	if err != nil {
		t.Fatalf("document %d: current revision's blob: %v", id, err)
	}
	pdf, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	if hex.EncodeToString(sum[:]) != d.CurrentSha256 {
		t.Fatalf("document %d: stored PDF's SHA-256 %x, row says %s", id, sum, d.CurrentSha256)
	}
	root, _ := s.App.Trust.CA.RootCertificate()
	rep, err := verify.Verify(pdf, verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: s.App.Trust.CA}})
	if err != nil || rep.Verdict != verify.VerdictValid {
		t.Fatalf("document %d: verify: %v %+v", id, err, rep)
	}
	n := 0
	for _, sg := range rep.Signatures {
		if sg.Kind == verify.KindSignature {
			n++
		}
	}
	if n != signatures {
		t.Fatalf("document %d: %d approval signatures, want %d", id, n, signatures)
	}
	return crashDoc{ID: id, Revision: d.Revision, Sha256: d.CurrentSha256}
}

// crashSign has the token sign a step's digests, as the helper would.
func crashSign(t *testing.T, tok *ukeytest.Token, step ukeyStep) map[string]any {
	t.Helper()
	var sigs []map[string]any
	for _, d := range step.Digests {
		digest, _ := base64.StdEncoding.DecodeString(d.Digest)
		sig, err := keystore.SignDigest(context.Background(), tok.Module, "pkcs11:token="+tok.Label+";id=%4B%01", keystore.Secret(tok.PIN), digest, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, map[string]any{"documentID": d.DocumentID, "signature": base64.StdEncoding.EncodeToString(sig)})
	}
	return map[string]any{"pendingID": step.PendingID, "signatures": sigs}
}
