// Package viewer carries who is acting through a request's context. Every
// query and mutation runs as a viewer: an authenticated user (with the session
// that authenticated them), an anonymous visitor, or the system itself for
// work the platform does on its own behalf (registration, jobs, migrations).
// The ent privacy rules read it, so no query path can reach another user's data
// even when a resolver forgets to check.
package viewer

import (
	"context"
	"sync"
)

// Viewer describes the actor of a request.
type Viewer struct {
	// UserID is the authenticated user; 0 for anonymous and system viewers.
	UserID int
	// SessionID is the session that authenticated the user.
	SessionID int
	// Phone is the user's verified phone; flows addressed to it are theirs.
	Phone string
	// system marks the platform acting on its own behalf.
	system bool
}

// Authenticated reports whether the viewer is a logged-in user.
func (v Viewer) Authenticated() bool { return v.UserID != 0 }

// IsSystem reports whether the viewer is the platform itself.
func (v Viewer) IsSystem() bool { return v.system }

type ctxKey struct{}

// holder lets a login inside a request change who the rest of that request
// acts as (a GraphQL login mutation followed by fields that need the user).
type holder struct {
	mu sync.RWMutex
	v  Viewer
}

// NewContext returns ctx carrying v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, &holder{v: v})
}

// FromContext returns the viewer in ctx; an anonymous viewer when none is set.
func FromContext(ctx context.Context) Viewer {
	h, _ := ctx.Value(ctxKey{}).(*holder)
	if h == nil {
		return Viewer{}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.v
}

// Become makes the rest of the request act as v, after a successful login.
// It only affects a context made by NewContext for the request; it reports
// whether there was one.
func Become(ctx context.Context, v Viewer) bool {
	h, _ := ctx.Value(ctxKey{}).(*holder)
	if h == nil || h.v.system {
		return false
	}
	h.mu.Lock()
	h.v = v
	h.mu.Unlock()
	return true
}

// User returns ctx carrying an authenticated user viewer.
func User(ctx context.Context, userID, sessionID int) context.Context {
	return NewContext(ctx, Viewer{UserID: userID, SessionID: sessionID})
}

// System returns ctx carrying the system viewer, which the privacy rules let
// through. Domain packages use it for the steps that run before anyone is
// authenticated (registration, login) and for background jobs; it is never
// derived from request input.
func System(ctx context.Context) context.Context {
	return NewContext(ctx, Viewer{system: true})
}

// Client describes where a request came from; it is recorded with sessions,
// agreement acceptances, codes and audit events, and keys the per-IP limits.
type Client struct {
	IP        string
	UserAgent string
	RequestID string
}

type clientKey struct{}

// WithClient returns ctx carrying the request's client information.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client information in ctx (zero when none).
func ClientFrom(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}
