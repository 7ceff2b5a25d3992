package audit_test

import (
	"context"
	"sync/atomic"
	"testing"

	"signet/audit"
	"signet/internal/dbtest"
	"signet/viewer"
)

// TestVerifyWhileAppending verifies a chain again and again while events are
// appended to it: a verification that reads the rows and then the head
// between two appends must not report the newer head as a deleted tail
// (found by app's TestCrashDuringHostedSign, where completion jobs append to
// a flow's trail while it is checked; the 签署进度 page and the evidence
// report verify live chains the same way).
func TestVerifyWhileAppending(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		const chain = "flow:7"
		appendN(t, db, chain, 3)
		var done atomic.Bool
		errc := make(chan error, 1)
		go func() {
			defer done.Store(true)
			ctx := context.Background()
			for i := 0; i < 150; i++ {
				tx, err := db.Client.Tx(ctx)
				if err == nil {
					_, err = audit.Append(ctx, tx, audit.Event{Chain: chain, Actor: audit.System(), Action: audit.ParticipantViewed,
						Subject: audit.Subject{Type: "flow", ID: 7}, Payload: map[string]any{"i": i}})
					if err == nil {
						err = tx.Commit()
					} else {
						tx.Rollback()
					}
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		verified := 0
		for !done.Load() {
			rep, err := audit.Verify(viewer.System(context.Background()), db.Client, chain)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("verify while appending (%d events): %+v", rep.Events, rep.Problems)
			}
			verified++
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if rep := verify(t, db, chain); !rep.OK() || rep.Events != 153 {
			t.Fatalf("after appending: %d events, %+v", rep.Events, rep.Problems)
		}
		t.Logf("%d verifications while appending", verified)
	})
}
