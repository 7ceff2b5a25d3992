package flows_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"signet/ent"
	"signet/ent/stagedblob"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/viewer"
)

// TestStagedRevisions: a signature committing alone (a group packs its
// revisions instead: TestGroupCommit) has its revision committed in the database
// (flows/staged.go) and read from there until the mover writes it to the
// blob store; moving keeps the bytes and the key, and the rows go. A revision
// over the stage limit goes to the store before the commit, as before. The
// mover started with RunMover moves what a commit staged without waiting
// for its interval.
func TestStagedRevisions(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		ctx := context.Background()
		sys := viewer.System(ctx)

		signed := func(name string) *ent.FlowDocument {
			t.Helper()
			in := e.readyToSign(t, name)
			f, err := e.svc.Sign(e.as("bob"), in)
			if err != nil {
				t.Fatal(err)
			}
			d, err := f.QueryDocuments().Only(sys)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		inStore := func(key string) []byte {
			t.Helper()
			rc, err := e.blobs.Get(ctx, key)
			if errs.Is(err, errs.NotFound) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return b
		}

		d := signed("暂存修订")
		if d.Revision != 1 || d.CurrentKey == d.OriginalKey {
			t.Fatalf("document after the signature: revision %d, key %s", d.Revision, d.CurrentKey)
		}
		if inStore(d.CurrentKey) != nil {
			t.Fatal("the signed revision is in the blob store before the mover ran")
		}
		rows, err := e.db.StagedBlob.Query().All(sys)
		if err != nil || len(rows) != 1 || rows[0].Key != d.CurrentKey {
			t.Fatalf("staged rows: %v %v", rows, err)
		}
		_, pdf, err := e.svc.DocumentPDF(e.as("alice"), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(pdf); hex.EncodeToString(sum[:]) != d.CurrentSha256 {
			t.Fatal("the staged revision read back does not match the document's SHA-256")
		}
		e.checkSignatures(t, d.ID, 1)

		n, err := e.svc.MoveStaged(ctx, 10)
		if err != nil || n != 1 {
			t.Fatalf("MoveStaged: %d %v", n, err)
		}
		if got := inStore(d.CurrentKey); !bytes.Equal(got, pdf) {
			t.Fatal("the moved revision differs from the staged one")
		}
		if c := e.db.StagedBlob.Query().CountX(sys); c != 0 {
			t.Fatalf("%d staged rows left after moving", c)
		}
		if n, err := e.svc.MoveStaged(ctx, 10); err != nil || n != 0 {
			t.Fatalf("second MoveStaged: %d %v", n, err)
		}
		e.checkSignatures(t, d.ID, 1)

		// Over the limit: stored before the commit, nothing staged.
		e.rebuild(t, func(c *flows.Config) { c.StageLimit = -1 })
		d = signed("直接存储")
		if inStore(d.CurrentKey) == nil {
			t.Fatal("a revision over the stage limit is not in the blob store")
		}
		if c := e.db.StagedBlob.Query().CountX(sys); c != 0 {
			t.Fatalf("%d staged rows for a revision over the limit", c)
		}

		// The running mover is told of each staging commit.
		e.rebuild(t, nil)
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); e.svc.RunMover(mctx, time.Hour) }()
		defer func() { cancel(); <-done }()
		d = signed("后台转存")
		deadline := time.Now().Add(10 * time.Second)
		for inStore(d.CurrentKey) == nil || e.db.StagedBlob.Query().Where(stagedblob.Key(d.CurrentKey)).ExistX(sys) {
			if time.Now().After(deadline) {
				t.Fatal("the mover did not move the staged revision")
			}
			time.Sleep(10 * time.Millisecond)
		}
		e.checkSignatures(t, d.ID, 1)
	})
}
