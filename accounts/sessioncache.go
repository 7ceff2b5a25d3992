package accounts

import (
	"context"
	"sync"
	"time"

	"signet/ent"
	"signet/events"
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
type sessionCache struct {
	mu   sync.Mutex
	m    map[[32]byte]cachedSession
	live bool   // WatchSessions is subscribed
	gen  uint64 // bumped by every drop: a read that began before is not kept
	max  int
}

type cachedSession struct {
	id, userID        int
	phone             string
	lastSeen, expires time.Time
	// until is when the node reads the session again.
	until time.Time
}

// sessionCacheTTL is how long a node keeps a session it read.
const sessionCacheTTL = 30 * time.Second

// maxCachedSessions bounds the sessions kept (about 200 bytes each).
const maxCachedSessions = 16384

// sessionsTopic carries, on every node, the users whose sessions changed
// (Event.ID is the user).
const sessionsTopic = "accounts:sessions"

// kindSessionsChanged is the event of a user whose sessions changed.
const kindSessionsChanged = "sessions.changed"

// get returns the session kept for the token's hash, if it may be used at
// now.
func (c *sessionCache) get(sum [32]byte, now time.Time) (cachedSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ok := c.m[sum]
	if !ok {
		return cachedSession{}, false
	}
	if !now.Before(cs.until) || !now.Before(cs.expires) {
		delete(c.m, sum)
		return cachedSession{}, false
	}
	return cs, true
}

// generation is to be taken before reading a session, for put.
func (c *sessionCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put keeps a session read since generation gen, unless a drop came in
// between or the node is not listening.
func (c *sessionCache) put(sum [32]byte, cs cachedSession, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if c.m == nil {
		c.m = map[[32]byte]cachedSession{}
	}
	if len(c.m) >= c.limit() {
		// Full: the ones past their time go, or else any (a map's order).
		now := cs.until.Add(-sessionCacheTTL)
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.limit() {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[sum] = cs
}

// touched records that Authenticate moved a kept session's last use.
func (c *sessionCache) touched(sum [32]byte, lastSeen, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.m[sum]; ok {
		cs.lastSeen, cs.expires = lastSeen, expires
		c.m[sum] = cs
	}
}

// dropUser forgets the user's sessions.
func (c *sessionCache) dropUser(userID int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, v := range c.m {
		if v.userID == userID {
			delete(c.m, k)
		}
	}
}

// setLive starts or stops keeping sessions; either way it forgets those
// kept.
func (c *sessionCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.m)
}

func (c *sessionCache) limit() int {
	if c.max > 0 {
		return c.max
	}
	return maxCachedSessions
}

// WatchSessions lets this node keep the sessions it reads, for as long as
// it listens to the other nodes' session changes (sessionCache); it
// returns when ctx ends. Without it — or without a broker — every request
// reads its session.
func (s *Service) WatchSessions(ctx context.Context) {
	if s.events == nil {
		return
	}
	defer s.sessions.setLive(false)
	for ctx.Err() == nil {
		ch, cancel := s.events.Subscribe(ctx, sessionsTopic)
		// On PostgreSQL, once the listener is connected: a change
		// published before would not reach this node.
		if r, ok := s.events.(interface{ Ready() <-chan struct{} }); ok {
			select {
			case <-r.Ready():
			case <-ctx.Done():
				cancel()
				return
			}
		}
		s.sessions.setLive(true)
		for ev := range ch {
			switch ev.Kind {
			case kindSessionsChanged:
				s.sessions.dropUser(ev.ID)
			case events.KindResync: // events may have been missed
				s.sessions.setLive(true)
			}
		}
		// The subscription ended (too slow, or the broker closed).
		s.sessions.setLive(false)
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// sessionsChanged drops the user's kept sessions on this node and tells
// the other nodes. Call it after the change has committed.
func (s *Service) sessionsChanged(ctx context.Context, userID int) {
	s.sessions.dropUser(userID)
	if s.events == nil {
		return
	}
	if err := s.events.Publish(context.WithoutCancel(ctx), events.Event{Topic: sessionsTopic, Kind: kindSessionsChanged, ID: userID}); err != nil {
		s.log.WarnContext(ctx, "publish session change", "err", err)
	}
}

// sessionsChangeWith calls sessionsChanged for the user once tx commits.
func (s *Service) sessionsChangeWith(ctx context.Context, tx *ent.Tx, userID int) {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(cctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(cctx, tx); err != nil {
				return err
			}
			s.sessionsChanged(ctx, userID)
			return nil
		})
	})
}
