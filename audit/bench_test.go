package audit_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"signet/audit"
	"signet/ent"
	"signet/internal/dbtest"
)

// BenchmarkAppend measures one append in its own transaction (begin, lock
// head, insert, advance head, commit) to one chain, and in parallel to
// distinct chains (PostgreSQL appends to different chains do not wait for
// each other; SQLite has one writer).
func BenchmarkAppend(b *testing.B) {
	for _, kind := range dbtest.Kinds {
		b.Run(kind, func(b *testing.B) {
			db := dbtest.Open(b, dbtest.New(b, kind))
			ctx := context.Background()
			ev := audit.Event{Chain: "flow:1", Actor: audit.User(7, "王小明"), Action: audit.ParticipantSigned,
				Subject: audit.Subject{Type: "participant", ID: 9}, Payload: map[string]any{"document": 3, "revision": "ab12cd34"}}
			b.Run("one-chain", func(b *testing.B) {
				for b.Loop() {
					if err := withTx(ctx, db.Client, func(tx *ent.Tx) error { _, err := audit.Append(ctx, tx, ev); return err }); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("parallel-chains", func(b *testing.B) {
				var n atomic.Int64
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					e := ev
					e.Chain = fmt.Sprintf("flow:p%d", n.Add(1))
					for pb.Next() {
						if err := withTx(ctx, db.Client, func(tx *ent.Tx) error { _, err := audit.Append(ctx, tx, e); return err }); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkVerify measures verifying a 1000-event chain.
func BenchmarkVerify(b *testing.B) {
	for _, kind := range dbtest.Kinds {
		b.Run(kind, func(b *testing.B) {
			db := dbtest.Open(b, dbtest.New(b, kind))
			appendN(b, db, "flow:1", 1000)
			for b.Loop() {
				rep, err := audit.Verify(sysCtx(), db.Client, "flow:1")
				if err != nil || !rep.OK() {
					b.Fatal(err, rep.Problems)
				}
			}
		})
	}
}
