package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"signet/accounts"
	"signet/internal/apitest"
	"signet/internal/benchutil"
	"signet/internal/dbtest"
	"signet/internal/sqlcount"
	"signet/viewer"
)

// TestSessionsKeptPerNode: a node keeps the sessions it read
// (accounts/sessioncache.go), and a session revoked — on this node or, on
// PostgreSQL, on another server on the same database — is refused at once
// (on the other node as soon as the NOTIFY arrives); a kept session past
// its expiry is refused too.
func TestSessionsKeptPerNode(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		// Shorter than the node keeps a session (30 s), for the expiry below.
		opts := apitest.Options{Policy: func(p *accounts.Policy) { p.SessionTTL = 20 * time.Second }}
		a, counter := startCountingWith(t, b, opts)
		other := otherNode(t, b, a, opts) // the node that did not make the change
		var seq atomic.Int64
		// me asks for the viewer's phone as token on node s; it returns the
		// answer's code and the statements on sessions node a sent.
		me := func(s *apitest.Server, token string) (string, []string) {
			t.Helper()
			id := fmt.Sprintf("session-%d", seq.Add(1))
			counter.Watch(func(ctx context.Context) bool { return viewer.ClientFrom(ctx).RequestID == id })
			r := s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + token, "X-Request-ID": id}, `{ me { phone } }`, nil)
			var onSessions []string
			for _, q := range sqlcount.SQL(counter.Stop()) {
				if strings.Contains(q, "sessions") {
					onSessions = append(onSessions, q)
				}
			}
			return r.Code(), onSessions
		}
		refusedOn := func(s *apitest.Server, token, what string) {
			t.Helper()
			if s == a {
				if code, _ := me(s, token); code != "UNAUTHENTICATED" {
					t.Fatalf("%s: %q on the node that made the change, want UNAUTHENTICATED", what, code)
				}
				return
			}
			benchutil.WaitFor(t, what+" on the other node", func() bool {
				code, _ := me(s, token)
				return code == "UNAUTHENTICATED"
			})
		}

		a.Register("13800000001", passA) // its session ends before the clock moved past the resend interval
		// login opens a session of alice's on node a; with its id it
		// reads it once.
		login := func(withID bool) (string, string) {
			t.Helper()
			r := loginByPassword(t, a, "13800000001", passA)
			var pw struct{ LoginByPassword struct{ Token string } }
			r.Decode(t, &pw)
			if !withID {
				return pw.LoginByPassword.Token, ""
			}
			var m struct {
				Me struct {
					Sessions struct {
						Edges []struct {
							Node struct {
								ID      string
								Current bool
							}
						}
					}
				}
			}
			a.MustDo(pw.LoginByPassword.Token, `{ me { sessions(first: 20) { edges { node { id current } } } } }`, nil, &m)
			for _, e := range m.Me.Sessions.Edges {
				if e.Node.Current {
					return pw.LoginByPassword.Token, e.Node.ID
				}
			}
			t.Fatal("no current session")
			return "", ""
		}
		tok, _ := login(false)
		if code, read := me(a, tok); code != "" || len(read) != 1 {
			t.Fatalf("first request: %q, statements on sessions %q, want the session read", code, read)
		}
		if code, read := me(a, tok); code != "" || len(read) != 0 {
			t.Fatalf("second request: %q, statements on sessions %q, want none (kept)", code, read)
		}

		// Another session of alice's, used on both nodes, revoked on a.
		second, secondID := login(true)
		for _, s := range []*apitest.Server{a, other, a, other} {
			if code, _ := me(s, second); code != "" {
				t.Fatalf("the second session: %q", code)
			}
		}
		a.MustDo(tok, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": secondID}, nil)
		refusedOn(a, second, "a session revoked")
		refusedOn(other, second, "a session revoked")

		// Logout on the other node.
		third, _ := login(false)
		me(a, third)
		me(other, third)
		other.MustDo(third, `mutation { logout }`, nil, nil)
		if code, _ := me(other, third); code != "UNAUTHENTICATED" {
			t.Fatalf("after logout: %q on the node that logged out", code)
		}
		if other != a {
			benchutil.WaitFor(t, "a logout on the other node", func() bool {
				code, _ := me(a, third)
				return code == "UNAUTHENTICATED"
			})
		}

		// A password change ends the other sessions, kept or not.
		fourth, _ := login(false)
		me(a, fourth)
		me(other, fourth)
		a.MustDo(tok, `mutation($in: ChangePasswordInput!) { changePassword(input: $in) }`,
			map[string]any{"in": map[string]any{"oldPassword": passA, "newPassword": passA2, "newPasswordConfirm": passA2}}, nil)
		refusedOn(a, fourth, "after a password change")
		refusedOn(other, fourth, "after a password change")
		if code, _ := me(a, tok); code != "" {
			t.Fatalf("the session that changed the password: %q", code)
		}

		// Expiry is checked on a kept session: within the node's time to
		// keep it, past the session's end.
		if code, read := me(a, tok); code != "" || len(read) != 0 {
			t.Fatalf("before expiry: %q, statements on sessions %q, want none (kept)", code, read)
		}
		a.Clock.Advance(21 * time.Second)
		if code, _ := me(a, tok); code != "UNAUTHENTICATED" {
			t.Fatalf("a kept session past its end: %q, want UNAUTHENTICATED", code)
		}
	})
}
