package gqlws

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
)

// Shared responses. A broadcast — one event sent to the 10 000 subscribers
// of a contract — used to cost one execution of the operation per
// subscriber: gqlgen walks the selection, allocates a field context per
// field and marshals, about half of the server's CPU per frame. When a
// value's response depends only on the value and the operation, not on who
// subscribed, one execution can serve every subscriber that sent the same
// operation. Three things make that safe:
//
//   - the resolver says so, per value: Stream.SendShared(key, v) promises
//     that v is a function of key (the hub's event, say) and of nothing
//     about the subscriber;
//   - the operation is the same: subscribers share only with those whose
//     subscribe payload (query, operation name, variables, extensions) is
//     byte for byte the same, compared by SHA-256;
//   - the execution did not look at the subscriber: ShareGuard, a field
//     interceptor the server installs, watches the execution that fills the
//     cache, and a response is kept only when every field it resolved was a
//     plain struct field — no resolver, no method, no directive, which are
//     what could read the viewer from the context — and it has no errors or
//     extensions. Without ShareGuard nothing is kept. What the guard cannot
//     see is a scalar marshaled with the context (graphql.ContextMarshaler):
//     a type sent shared must not use one that reads the viewer (Signet's
//     scalars read nothing from the context).
//
// Values sent with Send, and responses that are not kept, are executed per
// subscriber as before.

// Stream is the channel a subscription resolver returns, made by this
// transport's rules: a value sent on it is pushed to the client without a
// goroutine waiting on the channel (see Notifier), and a value sent with
// SendShared may reuse another subscriber's response. Outside this
// transport (gqlgen's websocket, SSE) it is a plain buffered channel. One
// goroutine at a time may send.
type Stream[T any] struct {
	ch     chan T
	notify func() // nil outside this transport

	mu   sync.Mutex
	keys []any // one per value in ch, in order; nil for an unshared value
}

// NewStream makes the stream of the operation whose resolver ctx is, with
// room for buffer values.
func NewStream[T any](ctx context.Context, buffer int) *Stream[T] {
	s := &Stream[T]{ch: make(chan T, buffer)}
	if o, _ := ctx.Value(notifierKey{}).(*op); o != nil {
		s.notify = o.notify
		o.src = s
	}
	return s
}

// C is the channel to return from the resolver.
func (s *Stream[T]) C() <-chan T { return s.ch }

// Send puts v in the stream without blocking; false when the stream is
// full (the subscriber is behind: drop it and Close).
func (s *Stream[T]) Send(v T) bool { return s.send(nil, v) }

// SendShared is Send for a value whose response depends on key and the
// operation alone: every subscriber on this node with the same operation
// gets the bytes of one execution. key must be comparable and equal keys
// must stand for equal values.
func (s *Stream[T]) SendShared(key any, v T) bool { return s.send(key, v) }

func (s *Stream[T]) send(key any, v T) bool {
	if s.notify == nil {
		select {
		case s.ch <- v:
			return true
		default:
			return false
		}
	}
	// The key is queued before the value so that whoever takes the value
	// finds its key.
	s.mu.Lock()
	if len(s.ch) == cap(s.ch) {
		s.mu.Unlock()
		return false
	}
	s.keys = append(s.keys, key)
	s.ch <- v // cannot block: room was checked and there is one sender
	s.mu.Unlock()
	s.notify()
	return true
}

// Close ends the stream.
func (s *Stream[T]) Close() {
	close(s.ch)
	if s.notify != nil {
		s.notify()
	}
}

// nextKey takes the key of the value at the head of the stream.
func (s *Stream[T]) nextKey() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) == 0 {
		return nil
	}
	k := s.keys[0]
	s.keys[0] = nil
	s.keys = s.keys[1:]
	if len(s.keys) == 0 {
		s.keys = nil // an idle stream holds no array
	}
	return k
}

// skip drops the value at the head of the stream, whose response was
// found; it never blocks.
func (s *Stream[T]) skip() {
	select {
	case <-s.ch:
	default:
	}
}

// source is a Stream seen from its operation.
type source interface {
	nextKey() any
	skip()
}

// operationKey identifies an operation for sharing: the SHA-256 of its
// subscribe payload.
func operationKey(payload []byte) [sha256.Size]byte { return sha256.Sum256(payload) }

type shareKey struct {
	key any
	op  [sha256.Size]byte
}

// shareCache holds the responses of recent shared values: two generations
// of up to shareCacheSize entries, so a broadcast's response stays while
// its subscribers are served and old ones go without a sweep. The first
// subscriber to need an entry executes the operation; the others wait for
// it rather than execute too.
type shareCache struct {
	mu       sync.Mutex
	cur, old map[shareKey]*shared
	hits     atomic.Uint64
}

// shared is one value's response for one operation: data is set, or left
// nil when the execution could not be shared, before done is closed.
type shared struct {
	done chan struct{}
	data []byte
}

const shareCacheSize = 1024

// claim returns k's entry; owner is true when the caller made it and must
// fill it.
func (c *shareCache) claim(k shareKey) (e *shared, owner bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.cur[k]; e != nil {
		return e, false
	}
	if e := c.old[k]; e != nil {
		return e, false
	}
	if len(c.cur) >= shareCacheSize {
		c.old, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = map[shareKey]*shared{}
	}
	e = &shared{done: make(chan struct{})}
	c.cur[k] = e
	return e, true
}

// ShareGuard is the field interceptor that lets shared responses be kept
// (see Stream.SendShared): install it with srv.Use(gqlws.ShareGuard{}). It
// costs a context lookup per field otherwise.
type ShareGuard struct{}

var (
	_ graphql.HandlerExtension = ShareGuard{}
	_ graphql.FieldInterceptor = ShareGuard{}
)

func (ShareGuard) ExtensionName() string                   { return "gqlws.ShareGuard" }
func (ShareGuard) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptField records, during an execution that would fill the cache,
// whether a field could depend on the context.
func (ShareGuard) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	if w, ok := ctx.Value(watchKey{}).(*watch); ok {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.IsResolver || fc.IsMethod || fc.Field.Field == nil || len(fc.Field.Directives) > 0 ||
			fc.Field.Definition == nil || len(fc.Field.Definition.Directives) > 0 {
			w.unsafe.Store(true)
		}
		w.fields.Add(1)
	}
	return next(ctx)
}

type watchKey struct{}

// watch is what ShareGuard saw of one execution.
type watch struct {
	fields atomic.Int64
	unsafe atomic.Bool
}

func (w *watch) clean() bool { return w.fields.Load() > 0 && !w.unsafe.Load() }

// SharedFrames is how many frames this transport has sent from another
// subscriber's execution.
func (t *Transport) SharedFrames() uint64 { return t.shared.hits.Load() }
