package accounts

import (
	"context"
	"time"

	"signet/ent"
	"signet/events"
	"signet/internal/kept"
)

// Every request reads its session (Authenticate); a signer's requests come
// in runs — the page's reads, the intent code, the signature, within a
// minute. The node keeps the sessions it read for sessionCacheTTL, so a
// run reads its session once.
//
// A session changes in three ways that matter to a request: it is revoked
// (logout, a session ended from the list, a password set), its user's
// phone changes, or it expires. Expiry is checked on every use, as before.
// The first two drop the user's kept sessions:
//   - on the node that made the change, after its commit and before it
//     answers (a request after a logout is refused at once);
//   - on the other nodes through the events broker (sessionsTopic; on
//     PostgreSQL a NOTIFY, milliseconds), which WatchSessions listens to.
//
// A node keeps sessions only while WatchSessions is listening: when the
// subscription ends or the broker says events may have been lost, every
// kept session is dropped. What could still be missed — a node that
// crashed between its commit and the publish — lasts at most
// sessionCacheTTL. A session read while a change commits is not kept
// (the generation below), so the change cannot be undone by a late read.
type sessionCache = kept.Map[[32]byte, cachedSession]

type cachedSession struct {
	id, userID        int
	phone             string
	lastSeen, expires time.Time
}

// sessionCacheTTL is how long a node keeps a session it read.
const sessionCacheTTL = 30 * time.Second

// sessionsTopic carries, on every node, the users whose sessions changed
// (Event.ID is the user).
const sessionsTopic = "accounts:sessions"

// kindSessionsChanged is the event of a user whose sessions changed.
const kindSessionsChanged = "sessions.changed"

// dropUser forgets the user's kept sessions.
func (s *Service) dropUser(userID int) {
	s.sessions.Drop(func(_ [32]byte, cs cachedSession) bool { return cs.userID == userID })
}

// WatchSessions lets this node keep the sessions it reads, for as long as
// it listens to the other nodes' session changes (sessionCache); it
// returns when ctx ends. Without it — or without a broker — every request
// reads its session.
func (s *Service) WatchSessions(ctx context.Context) {
	if s.events == nil {
		return
	}
	events.Watch(ctx, s.events, sessionsTopic, s.sessions.Listening, func(ev events.Event) {
		if ev.Kind == kindSessionsChanged {
			s.dropUser(ev.ID)
		}
	})
}

// sessionsChanged drops the user's kept sessions on this node and tells
// the other nodes. Call it after the change has committed.
func (s *Service) sessionsChanged(ctx context.Context, userID int) {
	s.dropUser(userID)
	if s.events == nil {
		return
	}
	if err := s.events.Publish(context.WithoutCancel(ctx), events.Event{Topic: sessionsTopic, Kind: kindSessionsChanged, ID: userID}); err != nil {
		s.log.WarnContext(ctx, "publish session change", "err", err)
	}
}

// sessionsChangeWith calls sessionsChanged for the user once tx commits.
func (s *Service) sessionsChangeWith(ctx context.Context, tx *ent.Tx, userID int) {
	events.OnCommitted(tx, func(context.Context) { s.sessionsChanged(ctx, userID) })
}
