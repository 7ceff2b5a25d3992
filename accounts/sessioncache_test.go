package accounts

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"signet/ent"
	"signet/ent/session"
	"signet/errs"
	"signet/internal/dbtest"
	"signet/sms"
	"signet/viewer"
)

// TestSessionCacheDropsAtOnce checks, without the watcher (no other node's
// events, none of its own), that this node's own changes drop the sessions
// it keeps before they answer, that a read racing a change is not kept, and
// the cache's bound.
func TestSessionCacheDropsAtOnce(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		db := dbtest.Open(t, b)
		now := time.Now().UTC()
		s, err := New(Config{DB: db.Client, SMS: sms.NewOutbox(sms.NewMemoryOutboxStore(16), nil),
			Hasher: NewPasswordHasher(8*1024, 1, 1), Policy: DefaultPolicy(), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		s.sessions.Listening(true) // as WatchSessions does once it listens
		ctx := viewer.System(context.Background())
		u := db.Client.User.Create().SetPhone("13800000001").SaveX(ctx)
		open := func() (string, int) {
			t.Helper()
			var res AuthResult
			if err := s.withTx(ctx, func(tx *ent.Tx) error {
				var err error
				res, err = s.newSession(ctx, tx, u, session.MethodPassword)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			return res.Token, res.Session.ID
		}
		authenticate := func(token string) (viewer.Viewer, error) {
			return s.Authenticate(context.Background(), token)
		}
		kept := func(token string) bool {
			_, ok := s.sessions.Get(sha256.Sum256([]byte(token)), now)
			return ok
		}
		mine := func(sid int) context.Context {
			ctx := viewer.NewContext(context.Background(), viewer.Viewer{UserID: u.ID, SessionID: sid, Phone: u.Phone})
			return ctx
		}

		tok, sid := open()
		if _, err := authenticate(tok); err != nil || !kept(tok) {
			t.Fatalf("authenticate: %v, kept %v", err, kept(tok))
		}
		// A session revoked on this node: refused by the next request.
		other, otherID := open()
		if _, err := authenticate(other); err != nil || !kept(other) {
			t.Fatalf("authenticate the other: %v", err)
		}
		if err := s.RevokeSession(mine(sid), otherID); err != nil {
			t.Fatal(err)
		}
		if _, err := authenticate(other); errs.CodeOf(err) != errs.Unauthenticated {
			t.Fatalf("a revoked session: %v", err)
		}
		// All of the user's but one, in a transaction: dropped once it commits.
		third, _ := open()
		authenticate(third)
		if err := s.withTx(ctx, func(tx *ent.Tx) error { return s.revokeAll(ctx, tx, u.ID, sid) }); err != nil {
			t.Fatal(err)
		}
		if _, err := authenticate(third); errs.CodeOf(err) != errs.Unauthenticated {
			t.Fatalf("a session revoked with the others: %v", err)
		}
		if _, err := authenticate(tok); err != nil {
			t.Fatalf("the session kept by revokeAll: %v", err)
		}
		// A transaction rolled back drops nothing.
		if !kept(tok) {
			t.Fatal("the session is not kept")
		}
		_ = s.withTx(ctx, func(tx *ent.Tx) error {
			if err := s.revokeAll(ctx, tx, u.ID, 0); err != nil {
				return err
			}
			return errs.New(errs.Invalid, "回滚")
		})
		if !kept(tok) {
			t.Fatal("a rolled back change dropped the session")
		}
		// Logout.
		if err := s.Logout(mine(sid)); err != nil {
			t.Fatal(err)
		}
		if _, err := authenticate(tok); errs.CodeOf(err) != errs.Unauthenticated {
			t.Fatalf("after logout: %v", err)
		}

		// A read that began before a change is not kept.
		fresh, _ := open()
		sum := sha256.Sum256([]byte(fresh))
		gen := s.sessions.Generation()
		s.dropUser(u.ID + 1000) // someone's change meanwhile
		s.sessions.Put(sum, cachedSession{userID: u.ID, expires: now.Add(time.Hour)}, gen, now, now.Add(time.Minute))
		if kept(fresh) {
			t.Fatal("a read older than a change was kept")
		}
		// Not listening: nothing kept.
		authenticate(fresh)
		s.sessions.Listening(false)
		if kept(fresh) {
			t.Fatal("kept after the watcher stopped")
		}
		if _, err := authenticate(fresh); err != nil || kept(fresh) {
			t.Fatalf("not listening: %v, kept %v", err, kept(fresh))
		}

		// The bound.
		s.sessions.Listening(true)
		s.sessions.Max = 3
		for range 5 {
			tk, _ := open()
			authenticate(tk)
		}
		if n := s.sessions.Len(); n > 3 {
			t.Fatalf("%d sessions kept, bound 3", n)
		}
	})
}
