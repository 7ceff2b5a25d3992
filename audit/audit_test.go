package audit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/audit"
	"signet/database"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/privacy"
	"signet/errs"
	"signet/internal/dbtest"
	"signet/viewer"
)

// appendN appends n events to chain, one transaction each.
func appendN(t testing.TB, db *database.DB, chain string, n int) []*ent.AuditEvent {
	t.Helper()
	ctx := viewer.WithClient(context.Background(), viewer.Client{IP: "10.0.0.1", UserAgent: "test-agent", RequestID: "req-1"})
	var out []*ent.AuditEvent
	for i := 0; i < n; i++ {
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e, err := audit.Append(ctx, tx, audit.Event{
			Chain: chain, Actor: audit.User(7, "王小明"), Action: audit.ParticipantViewed,
			Subject: audit.Subject{Type: "flow", ID: 42}, Payload: map[string]any{"i": i, "名称": "劳动合同"},
		})
		if err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func verify(t *testing.T, db *database.DB, chain string) audit.Report {
	t.Helper()
	rep, err := audit.Verify(viewer.System(context.Background()), db.Client, chain)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func exec(t *testing.T, db *database.DB, query string, args ...any) {
	t.Helper()
	q := query
	if db.Dialect == "postgres" {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := db.SQL.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestAppendChainsAndVerifies(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		evs := appendN(t, db, "flow:1", 5)
		appendN(t, db, "flow:2", 2)
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Errorf("event %d: seq %d", i, e.Seq)
			}
			wantPrev := audit.Genesis
			if i > 0 {
				wantPrev = evs[i-1].Hash
			}
			if e.PrevHash != wantPrev {
				t.Errorf("event %d: prev %s, want %s", i, e.PrevHash, wantPrev)
			}
			if e.IP != "10.0.0.1" || e.UserAgent != "test-agent" || e.RequestID != "req-1" {
				t.Errorf("event %d: client %q %q %q", i, e.IP, e.UserAgent, e.RequestID)
			}
		}
		// Read back from the database (not the returned structs): the hash
		// must survive the round trip through each backend's types.
		rep := verify(t, db, "flow:1")
		if !rep.OK() || rep.Events != 5 || rep.LastSeq != 5 || rep.LastHash != evs[4].Hash {
			t.Fatalf("report %+v", rep)
		}
		if rep := verify(t, db, "flow:2"); !rep.OK() || rep.Events != 2 {
			t.Fatalf("flow:2 report %+v", rep)
		}
		if rep := verify(t, db, "flow:none"); !rep.OK() || rep.Events != 0 {
			t.Fatalf("empty chain report %+v", rep)
		}
	})
}

func TestTamperingIsReported(t *testing.T) {
	type problem struct {
		seq  int64
		kind audit.ProblemKind
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *database.DB, evs []*ent.AuditEvent)
		want   []problem
	}{
		{"payload edited", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `UPDATE audit_events SET payload = ? WHERE chain = ? AND seq = ?`, `{"i":99}`, "flow:1", 3)
		}, []problem{{3, audit.Edited}}},
		{"actor edited", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `UPDATE audit_events SET actor_name = ? WHERE chain = ? AND seq = ?`, "李四", "flow:1", 1)
		}, []problem{{1, audit.Edited}}},
		{"time edited", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `UPDATE audit_events SET created_at = ? WHERE chain = ? AND seq = ?`, evs[1].CreatedAt.Add(-time.Hour), "flow:1", 2)
		}, []problem{{2, audit.Edited}}},
		{"edited and rehashed", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			rec := audit.RecordOf(evs[2])
			rec.Payload = `{"i":99}`
			exec(t, db, `UPDATE audit_events SET payload = ?, hash = ? WHERE chain = ? AND seq = ?`, rec.Payload, rec.Hash(), "flow:1", 3)
		}, []problem{{4, audit.Relinked}}},
		{"middle row deleted", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq = ?`, "flow:1", 3)
		}, []problem{{3, audit.Deleted}}},
		{"first rows deleted", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq <= ?`, "flow:1", 2)
		}, []problem{{1, audit.Deleted}}},
		{"last row deleted", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `DELETE FROM audit_events WHERE chain = ? AND seq = ?`, "flow:1", 5)
		}, []problem{{4, audit.HeadMismatch}}},
		{"rows swapped", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `UPDATE audit_events SET seq = 1000 WHERE chain = ? AND seq = ?`, "flow:1", 2)
			exec(t, db, `UPDATE audit_events SET seq = 2 WHERE chain = ? AND seq = ?`, "flow:1", 3)
			exec(t, db, `UPDATE audit_events SET seq = 3 WHERE chain = ? AND seq = ?`, "flow:1", 1000)
		}, []problem{{2, audit.Reordered}, {3, audit.Reordered}}},
		{"row moved to another chain", func(t *testing.T, db *database.DB, evs []*ent.AuditEvent) {
			exec(t, db, `UPDATE audit_events SET chain = ? WHERE chain = ? AND seq = ?`, "flow:9", "flow:1", 2)
		}, []problem{{2, audit.Deleted}}},
	}
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				db := dbtest.Open(t, dbtest.New(t, b.Name))
				evs := appendN(t, db, "flow:1", 5)
				if rep := verify(t, db, "flow:1"); !rep.OK() {
					t.Fatalf("before tampering: %+v", rep.Problems)
				}
				tc.tamper(t, db, evs)
				rep := verify(t, db, "flow:1")
				var got []problem
				for _, p := range rep.Problems {
					got = append(got, problem{p.Seq, p.Kind})
					if p.Detail == "" {
						t.Errorf("problem %+v has no detail", p)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("problems %v, want %v (%+v)", got, tc.want, rep.Problems)
				}
			})
		}
	})
}

func TestNoUpdateOrDeleteThroughEnt(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		evs := appendN(t, db, "flow:1", 2)
		sys := viewer.System(context.Background())
		// Even an explicit privacy allow (which skips the policy) does not
		// get past the hook.
		allow := privacy.DecisionContext(sys, privacy.Allow)
		for name, ctx := range map[string]context.Context{"system": sys, "privacy allow": allow} {
			if err := db.Client.AuditEvent.UpdateOneID(evs[0].ID).Exec(ctx); err == nil {
				t.Errorf("%s: UpdateOne succeeded", name)
			}
			if _, err := db.Client.AuditEvent.Update().Where(auditevent.Chain("flow:1")).Save(ctx); err == nil {
				t.Errorf("%s: Update succeeded", name)
			}
			if err := db.Client.AuditEvent.DeleteOneID(evs[0].ID).Exec(ctx); err == nil {
				t.Errorf("%s: DeleteOne succeeded", name)
			}
			if _, err := db.Client.AuditEvent.Delete().Exec(ctx); err == nil {
				t.Errorf("%s: Delete succeeded", name)
			}
			if _, err := db.Client.AuditHead.Delete().Exec(ctx); err == nil {
				t.Errorf("%s: head Delete succeeded", name)
			}
		}
		// Users can neither write nor read audit rows directly.
		user := viewer.User(context.Background(), 7, 1)
		if _, err := db.Client.AuditEvent.Query().All(user); err == nil {
			t.Error("a user read audit rows")
		}
		if rep := verify(t, db, "flow:1"); !rep.OK() || rep.Events != 2 {
			t.Fatalf("report after refused changes: %+v", rep)
		}
	})
}

func TestAppendRefusesBadEvents(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		ctx := context.Background()
		good := audit.Event{Chain: "flow:1", Actor: audit.System(), Action: audit.FlowSent}
		bad := map[string]func(e *audit.Event){
			"unknown action": func(e *audit.Event) { e.Action = "flow.teleported" },
			"no chain":       func(e *audit.Event) { e.Chain = "" },
			"no actor":       func(e *audit.Event) { e.Actor = audit.Actor{} },
			"huge payload":   func(e *audit.Event) { e.Payload = strings.Repeat("x", audit.MaxPayload) },
		}
		for name, mutate := range bad {
			ev := good
			mutate(&ev)
			tx, err := db.Client.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = audit.Append(ctx, tx, ev)
			tx.Rollback()
			if !errs.Is(err, errs.Invalid) {
				t.Errorf("%s: error %v, want INVALID_ARGUMENT", name, err)
			}
		}
	})
}

func TestRolledBackAppendLeavesNoTrace(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		ctx := context.Background()
		appendN(t, db, "flow:1", 2)
		tx, err := db.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: "flow:1", Actor: audit.System(), Action: audit.FlowExpired}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		evs := appendN(t, db, "flow:1", 1)
		if evs[0].Seq != 3 {
			t.Errorf("seq after rollback %d, want 3", evs[0].Seq)
		}
		if rep := verify(t, db, "flow:1"); !rep.OK() || rep.Events != 3 {
			t.Fatalf("report %+v", rep)
		}
	})
}

// TestConcurrentAppends appends to one chain from many goroutines at once:
// the head lock must serialise them into 1..n without gaps or duplicates.
func TestConcurrentAppends(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errc := make(chan error, workers*each)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				for i := 0; i < each; i++ {
					err := withTx(ctx, db.Client, func(tx *ent.Tx) error {
						_, err := audit.Append(ctx, tx, audit.Event{Chain: "flow:1", Actor: audit.User(w, "u"), Action: audit.ParticipantSigned})
						if err != nil {
							return err
						}
						// A second chain in the same transaction.
						_, err = audit.Append(ctx, tx, audit.Event{Chain: fmt.Sprintf("user:%d", w), Actor: audit.User(w, "u"), Action: audit.ParticipantSigned})
						return err
					})
					if err != nil {
						errc <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		rep := verify(t, db, "flow:1")
		if !rep.OK() || rep.Events != workers*each || rep.LastSeq != workers*each {
			t.Fatalf("report %+v", rep)
		}
	})
}

// TestAppendToSeveralChains: one transaction locks several chains (a group
// commit of several flows' signatures) and appends to them interleaved, in
// one insert and one head update. Transactions that lock overlapping sets,
// named in different orders, take turns without deadlocking (the heads are
// locked in key order), and a chain new to the set is created on the way.
func TestAppendToSeveralChains(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		appendN(t, db, "flow:1", 2)
		sets := [][]string{{"flow:1", "flow:2", "flow:3"}, {"flow:3", "flow:2", "flow:1"}, {"flow:2", "flow:1"}, {"flow:3", "flow:1"}}
		const rounds = 10
		want := map[string]int{"flow:1": 2}
		for _, set := range sets {
			for _, c := range set {
				want[c] += 2 * rounds
			}
		}
		var wg sync.WaitGroup
		errc := make(chan error, len(sets)*rounds)
		for w, set := range sets {
			wg.Go(func() {
				ctx := context.Background()
				for range rounds {
					errc <- withTx(ctx, db.Client, func(tx *ent.Tx) error {
						tr, err := audit.Lock(ctx, tx, set...)
						if err != nil {
							return err
						}
						var evs []audit.Event
						for range 2 {
							for _, c := range set {
								evs = append(evs, audit.Event{Chain: c, Actor: audit.User(w, "u"), Action: audit.ParticipantSigned})
							}
						}
						saved, err := tr.Append(ctx, evs...)
						if err == nil && len(saved) != len(evs) {
							err = fmt.Errorf("%d rows for %d events", len(saved), len(evs))
						}
						return err
					})
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Error(err)
			}
		}
		for c, n := range want {
			if rep := verify(t, db, c); !rep.OK() || rep.Events != n || rep.LastSeq != int64(n) {
				t.Errorf("%s: report %+v, want %d events", c, rep, n)
			}
		}
		// An event of a chain the writer does not hold is refused.
		err := withTx(context.Background(), db.Client, func(tx *ent.Tx) error {
			tr, err := audit.Lock(context.Background(), tx, "flow:1", "flow:2")
			if err != nil {
				return err
			}
			_, err = tr.Append(context.Background(), audit.Event{Chain: "flow:3", Actor: audit.System(), Action: audit.FlowSent})
			return err
		})
		if errs.As(err) == nil || errs.As(err).Code != errs.Invalid {
			t.Fatalf("append to an unlocked chain: %v", err)
		}
	})
}

func TestListPaginates(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		appendN(t, db, "flow:1", 7)
		ctx := viewer.System(context.Background())
		var seqs []int64
		pages := 0
		for after := int64(0); ; {
			p, err := audit.List(ctx, db.Client, "flow:1", after, 3)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, e := range p.Events {
				seqs = append(seqs, e.Seq)
			}
			if p.Next == 0 {
				break
			}
			after = p.Next
		}
		if fmt.Sprint(seqs) != "[1 2 3 4 5 6 7]" || pages != 3 {
			t.Errorf("seqs %v in %d pages", seqs, pages)
		}
		if _, err := audit.List(viewer.User(context.Background(), 7, 1), db.Client, "flow:1", 0, 3); err == nil {
			t.Error("a user listed a trail directly")
		}
	})
}

func TestHashIsCanonical(t *testing.T) {
	base := audit.Record{Chain: "flow:1", Seq: 1, Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC),
		ActorType: "user", ActorID: 7, ActorName: "王", Action: "flow.sent", Payload: "{}", PrevHash: audit.Genesis}
	h := base.Hash()
	// The same instant in another zone and with sub-microsecond noise hashes the same.
	same := base
	same.Time = base.Time.In(time.FixedZone("CST", 8*3600)).Add(-789 * time.Nanosecond)
	if same.Hash() != h {
		t.Error("the hash depends on the time zone or nanoseconds")
	}
	// Moving bytes between adjacent fields changes the hash (netstrings).
	shifted := base
	shifted.ActorType, shifted.ActorName = "use", "r王"
	if shifted.Hash() == h {
		t.Error("adjacent fields are ambiguous")
	}
	if len(h) != 64 {
		t.Errorf("hash %q", h)
	}
}

func withTx(ctx context.Context, client *ent.Client, fn func(tx *ent.Tx) error) error {
	tx, err := client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func sysCtx() context.Context { return viewer.System(context.Background()) }
