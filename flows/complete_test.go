package flows_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"signet/accounts"
	"signet/audit"
	"signet/blob"
	"signet/certs"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flow"
	"signet/ent/participant"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/jobs"
	"signet/mail"
	"signet/signingcore/font"
	"signet/signingcore/pades"
	"signet/signingcore/seal"
	"signet/signingcore/verify"
	"signet/sms"
	"signet/trust"
	"signet/viewer"
)

// finishEnv is a signing environment whose queue also runs the workers of
// completion, expiry, notices and email (AddWorkers), with a mail provider
// the test chooses.
type finishEnv struct {
	*signEnv
}

func setupFinish(t *testing.T, b dbtest.Backend, mailer mail.Provider) *finishEnv {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Open(t, b)
	if err := jobs.Migrate(ctx, db, nil); err != nil {
		t.Fatal(err)
	}
	q, err := jobs.New(jobs.Config{DB: db, PollInterval: 50 * time.Millisecond,
		RetryPolicy: quickRetry{}})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDisk(blob.DiskConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db.Client, database: db, jobs: q, blobs: blobs, outbox: sms.NewMemoryOutboxStore(500), now: time.Now(), users: map[string]viewer.Viewer{}}
	for name, phone := range map[string]string{"alice": "13800000001", "bob": "13800000002", "carol": "13800000003",
		"dave": "13900000004", "mallory": "13800000009"} {
		u, err := db.Client.User.Create().SetPhone(phone).SetName(name).Save(viewer.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = viewer.Viewer{UserID: u.ID, Phone: phone}
	}
	ts, _, err := trust.Open(ctx, trust.Config{DataDir: t.TempDir(), BaseURL: "https://sign.example.com", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	cs, err := certs.New(certs.Config{DB: e.db, Keys: ts.Keys, CA: ts.CA, PseudonymKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	fnt, err := font.Parse()
	if err != nil {
		t.Fatal(err)
	}
	gen, err := seal.New(fnt)
	if err != nil {
		t.Fatal(err)
	}
	se := &signEnv{env: e, ts: ts, seals: map[string]int{}}
	for who, id := range map[string]string{"bob": "11010519491231002X", "carol": "110105194912310038"} {
		names := map[string]string{"bob": "王小明", "carol": "李四"}
		c, err := cs.IssuePerson(ctx, e.users[who].UserID, names[who], id)
		if err != nil {
			t.Fatalf("issue %s: %v", who, err)
		}
		img, err := gen.Personal(seal.Personal{Name: names[who]})
		if err != nil {
			t.Fatal(err)
		}
		sl, err := e.db.Seal.Create().SetUserID(e.users[who].UserID).SetKind(entseal.KindPersonal).SetName(names[who]).
			SetImage(img.PNG).SetWidth(img.Width).SetHeight(img.Height).SetSource(entseal.SourceGenerated).
			SetCertificateID(c.ID).SetIsDefault(true).Save(viewer.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		se.seals[who] = sl.ID
	}
	smsp := sms.NewOutbox(e.outbox, nil)
	acc, err := accounts.New(accounts.Config{DB: e.db, SMS: smsp, Hasher: accounts.NewPasswordHasher(8*1024, 1, 1),
		Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = flows.New(flows.Config{DB: db, Jobs: q, Blobs: blobs, Accounts: acc,
		Certs: cs, Seals: ownerSeals{e.database}, Signer: pades.NewSigner(pades.Config{}), TSA: ts.TSA, CA: ts.CA,
		Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := flows.AddNotifyWorkers(q, &flows.NotifyWorker{DB: db.Client, SMS: smsp, BaseURL: "https://sign.example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddWorkers(q, flows.WorkerDeps{SMS: smsp, Mail: mailer, BaseURL: "https://sign.example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	return &finishEnv{se}
}

// quickRetry retries failed jobs after a second.
type quickRetry struct{}

func (quickRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(time.Second) }

// draftWith makes a draft of alice's: bob then carol sign (bob at a given
// position), dave (an account holder) is CC; opts edits the input.
func (e *finishEnv) draftWith(t *testing.T, name string, opts func(*flows.DraftInput)) (*ent.Flow, *ent.FlowDocument) {
	t.Helper()
	ctx := e.as("alice")
	f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: name, Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := e.svc.AddDocument(ctx, f.ID, "劳动合同", bytes.NewReader(testpdf.Make(2)))
	if err != nil {
		t.Fatal(err)
	}
	in := flows.DraftInput{Name: name, Ordered: true,
		Participants: []flows.ParticipantInput{
			{Key: "b", Name: "王小明", Phone: "13800000002", Order: 1},
			{Key: "c", Name: "李四", Phone: "13800000003", Order: 2},
			{Key: "cc", Role: participant.RoleCc, Name: "赵六", Phone: "13900000004"},
		},
		Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 2, X: 100, Y: 100, Width: 120, Height: 120}},
	}
	if opts != nil {
		opts(&in)
	}
	if _, err := e.svc.UpdateDraft(ctx, f.ID, in); err != nil {
		t.Fatal(err)
	}
	return f, doc
}

// signAll sends f and has bob and carol sign it.
func (e *finishEnv) signAll(t *testing.T, f *ent.Flow, doc *ent.FlowDocument) {
	t.Helper()
	if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sign(t, "bob", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}); err != nil {
		t.Fatalf("bob signs: %v", err)
	}
	got, err := e.sign(t, "carol", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"],
		Placements: []flows.Placement{{DocumentID: doc.ID, Kind: signfield.KindPersonalSeal, Page: 1, X: 300, Y: 80, Width: 100, Height: 40}}})
	if err != nil || got.Status != flow.StatusCompleted {
		t.Fatalf("carol signs: %v", err)
	}
}

// waitEvidence waits for the completion job to record the evidence report.
func (e *finishEnv) waitEvidence(t *testing.T, flowID int) *flows.EvidenceRecord {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		rec, err := e.svc.Evidence(e.as("alice"), flowID)
		if err != nil {
			t.Fatal(err)
		}
		if rec != nil {
			return rec
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no evidence report within 30 s")
	return nil
}

// waitTemplate waits for an SMS of a template to phone.
func waitTemplate(t *testing.T, store *sms.MemoryOutboxStore, phone string, tpl sms.Template) sms.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		msgs, _ := store.List(context.Background(), phone, 100)
		for _, m := range msgs {
			if m.Template == tpl {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s SMS to %s", tpl, phone)
	return sms.OutboxMessage{}
}

func countTemplate(store *sms.MemoryOutboxStore, phone string, tpl sms.Template) int {
	msgs, _ := store.List(context.Background(), phone, 500)
	n := 0
	for _, m := range msgs {
		if m.Template == tpl {
			n++
		}
	}
	return n
}

func (e *finishEnv) countEvents(t *testing.T, flowID int, a audit.Action) int {
	t.Helper()
	n, err := e.db.AuditEvent.Query().Where(auditevent.Chain(audit.FlowChain(flowID)), auditevent.Action(string(a))).Count(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *finishEnv) blob(t *testing.T, key string) []byte {
	t.Helper()
	rc, err := e.blobs.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func (e *finishEnv) roots(t *testing.T) verify.Options {
	t.Helper()
	root, err := e.ts.CA.RootCertificate()
	if err != nil {
		t.Fatal(err)
	}
	return verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: e.ts.CA}}
}

// TestCompletion: the completing signature queues the job; the documents
// end as PAdES B-LTA (validation data + document time-stamp) that still
// verify; the evidence report is made once and names what proves each
// signature; initiator and CC are told once; a second run changes nothing.
func TestCompletion(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupFinish(t, b, mail.NewOutbox(10, nil))
		f, doc := e.draftWith(t, "2026年劳动合同", nil)
		e.signAll(t, f, doc)
		start := time.Now()
		rec := e.waitEvidence(t, f.ID)
		t.Logf("completion job (B-LTA of a 2-page document, evidence report) done %s after the last signature", time.Since(start).Round(time.Millisecond))

		// The document: signed twice, then sealed (B-LTA), still valid.
		d, err := e.db.FlowDocument.Get(viewer.System(context.Background()), doc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Revision != 3 {
			t.Fatalf("revision %d, want 3 (two signatures and the document time-stamp)", d.Revision)
		}
		_, pdf, err := e.svc.DocumentPDF(e.as("alice"), doc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := flows.HasDocumentTimestamp(pdf); !ok || err != nil {
			t.Fatalf("no document time-stamp: %v", err)
		}
		if !bytes.Contains(pdf, []byte("/DSS")) {
			t.Fatal("no /DSS validation data")
		}
		rep, err := verify.Verify(pdf, e.roots(t))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Verdict != verify.VerdictValid || len(rep.Signatures) != 3 {
			t.Fatalf("final document: %s %s %v (%d signatures)", rep.Verdict, rep.Summary, rep.Reasons, len(rep.Signatures))
		}
		last := rep.Signatures[2]
		if last.Kind != verify.KindDocTimestamp || last.Status != verify.StatusValid || last.Timestamp == nil || !last.Timestamp.Trusted {
			t.Fatalf("document time-stamp: %+v", last)
		}
		for _, sg := range rep.Signatures[:2] {
			if sg.Status != verify.StatusValid || sg.Coverage.ChangesAfter != verify.ModificationSignaturesOnly {
				t.Fatalf("signature %d after sealing: %s %s %v", sg.Index, sg.Status, sg.Coverage.ChangesAfter, sg.Problems)
			}
		}
		checkPdfsig(t, e, pdf, 2)
		checkDocTimestampOpenSSL(t, e, pdf)

		// The evidence report.
		var ev flows.Evidence
		js := e.blob(t, rec.JSONKey)
		if err := json.Unmarshal(js, &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.Documents) != 1 || ev.Documents[0].OriginalSHA256 != doc.OriginalSha256 || ev.Documents[0].FinalSHA256 != d.CurrentSha256 ||
			ev.Documents[0].Verdict != "valid" || len(ev.Documents[0].Signatures) != 3 {
			t.Fatalf("evidence documents: %+v", ev.Documents)
		}
		if len(ev.Signers) != 2 || len(ev.CC) != 1 || ev.CC[0].MaskedPhone != "139****0004" {
			t.Fatalf("evidence parties: %+v / %+v", ev.Signers, ev.CC)
		}
		for _, sg := range ev.Signers {
			if sg.MaskedPhone == "" || strings.Contains(string(js), "13800000002") {
				t.Fatal("a full phone number in the evidence")
			}
			if len(sg.Certificates) != 1 || sg.Certificates[0].Serial == "" || !strings.Contains(sg.Certificates[0].Subject, sg.Name) ||
				sg.Certificates[0].Issuer == "" || len(sg.Timestamps) != 1 || sg.SignedAt == nil {
				t.Fatalf("signer %s: %+v", sg.Name, sg)
			}
			in := sg.Intent
			if in == nil || in.CodeSentAt == nil || in.ConfirmedAt == nil || in.ConfirmedAt.Before(*in.CodeSentAt) ||
				!strings.HasPrefix(in.Scope, "f") || len(in.Fingerprint) != 8 || !strings.Contains(in.BoundTo, in.Fingerprint) {
				t.Fatalf("intent of %s: %+v", sg.Name, in)
			}
		}
		if !ev.Chain.OK || ev.Chain.LastHash != rec.ChainHash || len(ev.Trail) != ev.Chain.Events || ev.Trail[len(ev.Trail)-1].Hash != ev.Chain.LastHash {
			t.Fatalf("evidence chain %+v vs record %+v", ev.Chain, rec)
		}
		var stamped bool
		for _, te := range ev.Trail {
			stamped = stamped || te.Action == string(audit.DocumentTimestamped)
			if te.Hash == "" || te.PrevHash == "" || te.Label == "" {
				t.Fatalf("trail entry %+v", te)
			}
		}
		if !stamped {
			t.Fatal("the evidence trail lacks document.timestamped")
		}
		page := string(e.blob(t, rec.HTMLKey))
		for _, want := range []string{"签署证据报告", "2026年劳动合同", doc.OriginalSha256, d.CurrentSha256, "意愿认证", "哈希链校验通过", ev.Chain.LastHash} {
			if !strings.Contains(page, want) {
				t.Fatalf("evidence HTML lacks %q", want)
			}
		}
		checkTokenOpenSSL(t, e, js, e.blob(t, rec.TokenKey))

		// Notices: the initiator and the CC recipient, once each.
		waitTemplate(t, e.outbox, "13800000001", sms.TemplateFlowCompleted)
		cc := waitTemplate(t, e.outbox, "13900000004", sms.TemplateFlowCompleted)
		if !strings.Contains(cc.Params["link"], "https://sign.example.com/s/") || cc.Params["contract"] != "2026年劳动合同" {
			t.Fatalf("CC completion notice %+v", cc)
		}

		// A second run (a retried job) does nothing.
		if err := e.svc.Finish(context.Background(), f.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		d2, _ := e.db.FlowDocument.Get(viewer.System(context.Background()), doc.ID)
		if d2.CurrentSha256 != d.CurrentSha256 || d2.Revision != 3 {
			t.Fatal("a second run sealed again")
		}
		if n := e.countEvents(t, f.ID, audit.DocumentTimestamped); n != 1 {
			t.Fatalf("%d document.timestamped events", n)
		}
		if n := e.countEvents(t, f.ID, audit.EvidenceGenerated); n != 1 {
			t.Fatalf("%d evidence.generated events", n)
		}
		if n := countTemplate(e.outbox, "13800000001", sms.TemplateFlowCompleted); n != 1 {
			t.Fatalf("initiator told %d times", n)
		}
		if n := countTemplate(e.outbox, "13900000004", sms.TemplateFlowCompleted); n != 1 {
			t.Fatalf("CC told %d times", n)
		}
		// Who may read the evidence record: the parties, not outsiders.
		if _, err := e.svc.Evidence(e.as("mallory"), f.ID); err == nil {
			t.Fatal("mallory reads the evidence record")
		}
		if r, err := e.svc.Evidence(e.as("dave"), f.ID); err != nil || r == nil || r.SHA256 != rec.SHA256 {
			t.Fatalf("the CC recipient's evidence record: %+v %v", r, err)
		}
	})
}

// TestFinishLeavesOthersAlone: the job ignores flows that are not completed
// and flows that are gone.
func TestFinishLeavesOthersAlone(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupFinish(t, b, nil)
		f, doc := e.draftWith(t, "未完成的合同", nil)
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Finish(context.Background(), f.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Finish(context.Background(), 999999); err != nil {
			t.Fatal(err)
		}
		d, _ := e.db.FlowDocument.Get(viewer.System(context.Background()), doc.ID)
		if d.Revision != 0 || e.countEvents(t, f.ID, audit.EvidenceGenerated) != 0 {
			t.Fatal("a flow being signed was sealed")
		}
	})
}

// checkPdfsig validates the approval signatures with poppler against an NSS
// database that trusts the platform root.
func checkPdfsig(t *testing.T, e *finishEnv, pdf []byte, want int) {
	t.Helper()
	if _, err := exec.LookPath("pdfsig"); err != nil {
		t.Log("pdfsig not installed; skipping the poppler check")
		return
	}
	dir := t.TempDir()
	root, _ := e.ts.CA.RootCertificate()
	rootPEM := filepath.Join(dir, "root.pem")
	os.WriteFile(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600)
	nss := filepath.Join(dir, "nss")
	os.Mkdir(nss, 0o700)
	for _, args := range [][]string{{"-N", "-d", "sql:" + nss, "--empty-password"}, {"-A", "-d", "sql:" + nss, "-n", "root", "-t", "CT,C,C", "-i", rootPEM}} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	file := filepath.Join(dir, "final.pdf")
	os.WriteFile(file, pdf, 0o600)
	out, err := exec.Command("pdfsig", "-nssdir", "sql:"+nss, file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfsig: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "Signature Validation: Signature is Valid."); n != want {
		t.Fatalf("pdfsig: %d valid signatures, want %d\n%s", n, want, out)
	}
	if strings.Contains(string(out), "Digest Mismatch") {
		t.Fatalf("pdfsig found a digest mismatch\n%s", out)
	}
}

// writeChain writes the TSA certificate and the CA chain for openssl.
func writeChain(t *testing.T, e *finishEnv, dir string) (caFile, untrusted string) {
	t.Helper()
	_, chain, err := e.ts.CA.TSA()
	if err != nil {
		t.Fatal(err)
	}
	var ca, tsa bytes.Buffer
	pem.Encode(&tsa, &pem.Block{Type: "CERTIFICATE", Bytes: chain[0].Raw})
	pem.Encode(&tsa, &pem.Block{Type: "CERTIFICATE", Bytes: chain[1].Raw})
	pem.Encode(&ca, &pem.Block{Type: "CERTIFICATE", Bytes: chain[2].Raw})
	caFile, untrusted = filepath.Join(dir, "root.pem"), filepath.Join(dir, "tsa.pem")
	os.WriteFile(caFile, ca.Bytes(), 0o600)
	os.WriteFile(untrusted, tsa.Bytes(), 0o600)
	return caFile, untrusted
}

// checkDocTimestampOpenSSL checks the document time-stamp token against the
// bytes it covers with `openssl ts -verify`.
func checkDocTimestampOpenSSL(t *testing.T, e *finishEnv, pdf []byte) {
	t.Helper()
	sigs, err := pades.ExtractSignatures(pdf)
	if err != nil {
		t.Fatal(err)
	}
	var data, token []byte
	for _, sg := range sigs {
		if sg.Type == "DocTimeStamp" {
			br := sg.ByteRange
			data = append(append([]byte{}, pdf[br[0]:br[0]+br[1]]...), pdf[br[2]:br[2]+br[3]]...)
			token = sg.Contents
		}
	}
	if token == nil {
		t.Fatal("no document time-stamp")
	}
	checkToken(t, e, data, token, true)
	// The same token over other bytes is refused (the check can fail).
	checkToken(t, e, append(data, 'x'), token, false)
}

// checkTokenOpenSSL checks the evidence report's time-stamp token.
func checkTokenOpenSSL(t *testing.T, e *finishEnv, data, token []byte) {
	t.Helper()
	checkToken(t, e, data, token, true)
	checkToken(t, e, bytes.Replace(data, []byte("签署证据报告"), []byte("伪造证据报告"), 1), token, false)
}

func checkToken(t *testing.T, e *finishEnv, data, token []byte, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed; skipping")
		return
	}
	dir := t.TempDir()
	caFile, untrusted := writeChain(t, e, dir)
	df, tf := filepath.Join(dir, "data"), filepath.Join(dir, "token.tsr")
	os.WriteFile(df, data, 0o600)
	os.WriteFile(tf, token, 0o600)
	out, err := exec.Command("openssl", "ts", "-verify", "-data", df, "-in", tf, "-token_in", "-CAfile", caFile, "-untrusted", untrusted).CombinedOutput()
	if got := err == nil && strings.Contains(string(out), "Verification: OK"); got != ok {
		t.Fatalf("openssl ts -verify = %v, want %v: %v\n%s", got, ok, err, out)
	}
}
