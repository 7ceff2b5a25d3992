// Package gqlws serves GraphQL over websocket with the graphql-transport-ws
// protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md),
// as a gqlgen transport: connection_init answered by connection_ack once
// InitFunc accepts it, subscribe/next/error/complete for operations, ping and
// pong both ways, and the protocol's close codes (4400 bad message, 4401
// subscribe before ack, 4403 init refused, 4408 no init in time, 4409 an id
// already in use, 4429 a second connection_init).
//
// It replaces gqlgen's websocket transport for this protocol because a
// subscription connection is mostly idle and there are many of them (issue
// 4: 10 000 per node), so what each one holds matters more than anything it
// does. gqlgen keeps four goroutines per subscribed connection (the HTTP
// handler reading, a ping ticker, a close-on-cancel watcher and the
// operation) and net/http's 4 KB read and write buffers. Here a connection
// costs:
//
//   - one goroutine reading, started fresh after connection_init (the HTTP
//     handler returns once the connection is acknowledged, so net/http's
//     request state and the middleware frames are freed), which decodes no
//     more than a message's envelope so that its stack stays small;
//   - for a subscription whose resolver notifies when it has sent a value
//     (Notifier, or a Stream; flowUpdated uses one), no goroutine while it
//     is idle: each notification starts a short-lived goroutine that takes
//     the value, executes the selection and writes the frame — or, for a
//     value sent shared, writes the response another subscriber's
//     execution made (share.go: one execution per event and operation for
//     a broadcast);
//   - for any other operation, one goroutine, started fresh once the
//     operation is set up (parsing, validation and the subscription
//     resolver's queries run on a short-lived goroutine whose deep stack is
//     dropped), blocked on the resolver's channel as gqlgen's is;
//   - no goroutine for liveness: one time.AfterFunc timer per connection
//     sends a ping every PingInterval and closes a connection that has sent
//     nothing for two intervals, and closing a connection cancels its
//     operations directly, so nothing watches a context;
//   - small buffers (ReadBufferSize, WriteBufferSize) instead of net/http's,
//     no compression, and frames written with one syscall from a pooled
//     buffer, the GraphQL response marshaled once.
//
// The connection's context is ConnContext's (by default the upgrade
// request's, detached from its cancellation: the HTTP handler has
// returned), then InitFunc's.
// transport.AddSubscriptionError and transport.GetInitPayload are gqlgen
// websocket features this transport does not provide, and
// OperationContext.Headers is nil (the upgrade request's headers are not
// kept).
package gqlws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Subprotocol is the websocket subprotocol this transport speaks.
const Subprotocol = "graphql-transport-ws"

// The protocol's close codes.
const (
	CloseBadRequest          = 4400
	CloseUnauthorized        = 4401
	CloseForbidden           = 4403
	CloseInitTimeout         = 4408
	CloseSubscriberExists    = 4409
	CloseTooManyInitRequests = 4429
)

const (
	defaultInitTimeout           = 10 * time.Second
	defaultPingInterval          = 20 * time.Second
	defaultWriteTimeout          = 10 * time.Second
	defaultReadLimit       int64 = 1 << 20
	defaultReadBufferSize        = 512
	defaultWriteBufferSize       = 1024
)

// InitFunc authenticates a connection_init payload and returns the context
// the connection's operations run in. An error refuses the connection: it is
// closed with 4403 Forbidden, or with a *CloseError's code and reason.
type InitFunc func(ctx context.Context, payload map[string]any) (context.Context, error)

// CloseError, returned by InitFunc, closes the connection with Code and
// Reason (at most 123 bytes) instead of 4403 Forbidden — for example 1013
// Try Again Later when the refusal is the server's fault, so that clients
// retry.
type CloseError struct {
	Code   int
	Reason string
	Err    error
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket close %d %s: %v", e.Code, e.Reason, e.Err)
}

func (e *CloseError) Unwrap() error { return e.Err }

// Transport is a gqlgen transport for graphql-transport-ws. The zero value
// uses the defaults noted on each field.
type Transport struct {
	// AcceptOptions are coder/websocket's; set OriginPatterns. Subprotocols
	// and CompressionMode are the transport's (graphql-transport-ws, no
	// compression: a per-connection deflate state costs tens of KB).
	AcceptOptions websocket.AcceptOptions
	// ConnContext returns the context a connection starts from, before
	// InitFunc. The connection outlives its upgrade request, so the default
	// is context.WithoutCancel(r.Context()); a shorter context (only the
	// values operations need) is cheaper: gqlgen looks values up in it for
	// every field of every event sent, walking the whole chain.
	ConnContext func(r *http.Request) context.Context
	// InitFunc authenticates connection_init; nil accepts every connection
	// with the connection's context.
	InitFunc InitFunc
	// InitTimeout is how long a connection may stay without connection_init
	// before it is closed with 4408 (10 s).
	InitTimeout time.Duration
	// PingInterval is how often the server pings; a connection from which
	// nothing (a pong or any other message) has arrived for two intervals is
	// closed (20 s; negative disables pings).
	PingInterval time.Duration
	// WriteTimeout bounds a ping's write: a connection that cannot take one
	// in that time is closed, which also frees writers stuck behind it (10 s).
	WriteTimeout time.Duration
	// ReadLimit is the largest message accepted from a client (1 MB, as
	// POST requests).
	ReadLimit int64
	// ReadBufferSize and WriteBufferSize size the connection's buffers
	// (512 B and 1 KB). A frame larger than the write buffer costs a second
	// write syscall, nothing more.
	ReadBufferSize, WriteBufferSize int
	// Logger receives connection errors at debug level; nil discards them.
	Logger *slog.Logger

	shared shareCache // responses of shared values (share.go)
}

var _ graphql.Transport = (*Transport)(nil)

// Supports reports whether r is a websocket upgrade offering
// graphql-transport-ws. Other upgrades (the legacy graphql-ws protocol) are
// left to the transports after this one.
func (t *Transport) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Upgrade", "websocket") &&
		headerHasToken(r.Header, "Sec-WebSocket-Protocol", Subprotocol)
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Do upgrades the request, waits for connection_init on the handler's
// goroutine, and once the connection is acknowledged hands it to a fresh
// reading goroutine and returns.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	opts := t.AcceptOptions
	opts.Subprotocols = []string{Subprotocol}
	opts.CompressionMode = websocket.CompressionDisabled
	lw := &leanWriter{ResponseWriter: w,
		readSize:  orDefault(t.ReadBufferSize, defaultReadBufferSize),
		writeSize: orDefault(t.WriteBufferSize, defaultWriteBufferSize)}
	ws, err := websocket.Accept(lw, r, &opts)
	if err != nil {
		t.debug(r.Context(), "websocket upgrade refused", err) // Accept has answered (e.g. 403 for a foreign origin)
		return
	}
	if ws.Subprotocol() != Subprotocol {
		_ = ws.Close(4406, "Subprotocol not acceptable")
		return
	}
	ws.SetReadLimit(orDefault(t.ReadLimit, defaultReadLimit))
	var ctx context.Context
	if t.ConnContext != nil {
		ctx = t.ConnContext(r)
	} else {
		ctx = context.WithoutCancel(r.Context())
	}
	c := &conn{t: t, ws: ws, exec: exec, ctx: ctx}
	if !c.init() {
		_ = ws.CloseNow()
		return
	}
	go c.readLoop()
}

func (t *Transport) debug(ctx context.Context, msg string, err error) {
	if t.Logger != nil {
		t.Logger.DebugContext(ctx, msg, "err", err)
	}
}

// conn is one connection. Its fields are few on purpose: see the package
// comment.
type conn struct {
	t    *Transport
	ws   *websocket.Conn
	exec graphql.GraphExecutor
	// ctx is the connection's context: not cancellable (operations are
	// cancelled one by one), carrying InitFunc's values once acknowledged.
	ctx context.Context

	// seen is set by the reader for every message and cleared by the
	// keepalive timer.
	seen atomic.Bool
	// silent counts keepalive ticks without a message; only the timer's
	// callback touches it, and the callbacks never overlap (each re-arms
	// the timer when it is done).
	silent int

	mu     sync.Mutex // guards what follows
	closed bool
	ops    []*op // a slice: a connection usually has a handful
	timer  *time.Timer
}

// op is one active operation.
type op struct {
	c      *conn
	id     string
	idJSON []byte // the id as a JSON string, for frames
	cancel context.CancelFunc

	// A subscription whose resolver notifies (see Notifier) is "pushed":
	// no goroutine waits on its stream; notify starts one to drain it.
	push atomic.Int32 // pushOpen until the first notify or the end of setup
	// pending counts notifications not yet drained, plus one while the
	// operation is being set up; whoever moves it from 0 runs drain.
	pending atomic.Int32
	ended   bool // the stream has ended; only drain touches it
	// Set before setup gives up its count, for drain.
	ctx       context.Context
	rc        *graphql.OperationContext
	responses graphql.ResponseHandler
	// src is the operation's Stream, when its resolver made one; opKey
	// identifies the operation for shared responses (see share.go).
	src   source
	opKey [32]byte
}

const (
	pushOpen     = iota // setup running, nobody has notified yet
	pushNotified        // the resolver notifies: drained on demand
	pushWaiting         // a goroutine waits on the stream
)

type notifierKey struct{}

// Notifier returns, inside a subscription resolver run by this transport,
// a function the resolver calls after each value it sends on the channel it
// returns, and after closing that channel; nil elsewhere. A resolver that
// notifies for its first value before returning (a subscription that starts
// with the current state does) holds no goroutine while idle: the
// transport receives from the channel only when told that a value is
// there. A resolver that does not, or notifies only later, gets a goroutine
// blocked on its channel as usual, and its notifications are ignored. The
// function never blocks and may be called from any goroutine. Notify only
// for the channel the resolver returns without an error: each call is
// taken as one value (or the close) waiting there.
func Notifier(ctx context.Context) func() {
	o, _ := ctx.Value(notifierKey{}).(*op)
	if o == nil {
		return nil
	}
	return o.notify
}

func (o *op) notify() {
	if o.push.Load() == pushOpen {
		o.push.CompareAndSwap(pushOpen, pushNotified)
	}
	if o.push.Load() == pushNotified && o.pending.Add(1) == 1 {
		go o.c.drain(o)
	}
}

// kick makes a pushed operation notice that its context was cancelled.
func (o *op) kick() {
	if o.push.Load() == pushNotified && o.pending.Add(1) == 1 {
		go o.c.drain(o)
	}
}

// end cancels o, and has it noticed.
func (o *op) end() {
	o.cancel()
	o.kick()
}

// message is a client's message.
type message struct {
	Type    string          `json:"type"`
	ID      *string         `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// next blocks for the client's next message; false once the connection
// has ended.
func (c *conn) next() ([]byte, bool) {
	_, data, err := c.ws.Read(context.Background())
	if err != nil {
		if websocket.CloseStatus(err) == -1 && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled) {
			c.t.debug(c.ctx, "websocket read", err)
		}
		return nil, false
	}
	c.seen.Store(true)
	return data, true
}

// parse decodes and checks a message; when it is bad the connection is
// closed with 4400 and ok is false.
func (c *conn) parse(data []byte) (m message, ok bool) {
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		c.closeWith(CloseBadRequest, "Invalid message received")
		return m, false
	}
	switch m.Type {
	case "connection_init", "ping", "pong":
		if !objectOrNull(m.Payload) {
			c.closeWith(CloseBadRequest, "Invalid message received")
			return m, false
		}
	case "subscribe", "complete":
		if m.ID == nil || *m.ID == "" {
			c.closeWith(CloseBadRequest, "Invalid message received")
			return m, false
		}
	default:
		c.closeWith(CloseBadRequest, limitReason("Unexpected message of type "+m.Type+" received"))
		return m, false
	}
	return m, true
}

func objectOrNull(p json.RawMessage) bool {
	p = bytes.TrimSpace(p)
	return len(p) == 0 || string(p) == "null" || p[0] == '{'
}

// limitReason keeps a close reason within the 123 bytes a close frame
// allows, without cutting a UTF-8 sequence.
func limitReason(s string) string {
	if len(s) <= 123 {
		return s
	}
	n := 120
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// init waits for connection_init, answering pings meanwhile, and reports
// whether the connection was acknowledged.
func (c *conn) init() bool {
	timeout := time.AfterFunc(orDefault(c.t.InitTimeout, defaultInitTimeout), func() {
		c.closeWith(CloseInitTimeout, "Connection initialisation timeout")
	})
	defer timeout.Stop()
	for {
		data, ok := c.next()
		if !ok {
			return false
		}
		m, ok := c.parse(data)
		if !ok {
			return false
		}
		switch m.Type {
		case "ping":
			c.pong(m.Payload)
		case "pong":
		case "subscribe":
			c.closeWith(CloseUnauthorized, "Unauthorized")
			return false
		case "complete":
			// Nothing is running: ignore it, as graphql-ws does.
		case "connection_init":
			if !timeout.Stop() {
				return false // timed out just now: the connection is closing
			}
			payload := map[string]any{}
			if len(m.Payload) > 0 && string(m.Payload) != "null" {
				if err := json.Unmarshal(m.Payload, &payload); err != nil {
					c.closeWith(CloseBadRequest, "Invalid message received")
					return false
				}
			}
			if c.t.InitFunc != nil {
				ctx, err := c.t.InitFunc(c.ctx, payload)
				if err != nil {
					code, reason := CloseForbidden, "Forbidden"
					var ce *CloseError
					if errors.As(err, &ce) {
						code, reason = ce.Code, limitReason(ce.Reason)
					}
					c.t.debug(c.ctx, "websocket connection_init refused", err)
					c.closeWith(code, reason)
					return false
				}
				c.ctx = ctx
			}
			return c.write(context.Background(), frameAck) == nil
		}
	}
}

// readLoop reads the client's messages until the connection ends, then
// ends every operation. Its frame is kept small — messages are handled in
// handle — because it sits on the stack of every idle connection: a
// blocked stack of over 2 KB keeps an 8 KB stack, under it the GC shrinks
// it to 4 KB.
func (c *conn) readLoop() {
	defer c.shutdown()
	if every := orDefault(c.t.PingInterval, defaultPingInterval); every > 0 {
		c.mu.Lock()
		c.timer = time.AfterFunc(every, c.keepalive)
		c.mu.Unlock()
	}
	for {
		data, ok := c.next()
		if !ok || !c.handle(data) {
			return
		}
	}
}

// handle acts on one message after connection_ack; false ends the
// connection.
//
//go:noinline
func (c *conn) handle(data []byte) bool {
	m, ok := c.parse(data)
	if !ok {
		return false
	}
	switch m.Type {
	case "connection_init":
		c.closeWith(CloseTooManyInitRequests, "Too many initialisation requests")
		return false
	case "ping":
		c.pong(m.Payload)
	case "pong":
	case "complete":
		c.stop(*m.ID)
	case "subscribe":
		return c.subscribe(*m.ID, m.Payload)
	}
	return true
}

// shutdown ends the connection and its operations.
func (c *conn) shutdown() {
	c.mu.Lock()
	c.closed = true
	ops := c.ops
	c.ops = nil
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	for _, o := range ops {
		o.end()
	}
	_ = c.ws.CloseNow()
}

// closeWith cancels the operations and closes the connection with code (a
// close handshake bounded by coder/websocket at 5 s).
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	ops := c.ops
	c.ops = nil
	c.closed = true
	c.mu.Unlock()
	for _, o := range ops {
		o.end()
	}
	_ = c.ws.Close(websocket.StatusCode(code), reason)
}

// keepalive runs on the connection's timer: it closes a connection silent
// for two intervals, else sends a ping and re-arms.
func (c *conn) keepalive() {
	if c.seen.Swap(false) {
		c.silent = 0
	} else {
		c.silent++
	}
	if c.silent >= 2 {
		c.t.debug(c.ctx, "websocket closed", errors.New("no message for two ping intervals"))
		_ = c.ws.CloseNow()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), orDefault(c.t.WriteTimeout, defaultWriteTimeout))
	err := c.write(ctx, framePing)
	cancel()
	if err != nil {
		_ = c.ws.CloseNow()
		return
	}
	c.mu.Lock()
	if !c.closed {
		c.timer.Reset(orDefault(c.t.PingInterval, defaultPingInterval))
	}
	c.mu.Unlock()
}

// parseParams decodes a subscribe message's payload: an object with a
// query (or, for automatic persisted queries, extensions); numbers stay
// json.Number for gqlgen's variable coercion.
func parseParams(payload json.RawMessage) (*graphql.RawParams, bool) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || p[0] != '{' {
		return nil, false
	}
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	if dec.Decode(params) != nil || params.Query == "" && params.Extensions == nil {
		return nil, false
	}
	return params, true
}

// subscribe starts operation id; false when the connection was closed
// because the id is in use.
//
// Decoding the payload is left to start: JSON decoding of the variables
// would grow the reader's stack for good (see readLoop).
func (c *conn) subscribe(id string, payload json.RawMessage) bool {
	start := graphql.Now()
	ctx, cancel := context.WithCancel(c.ctx)
	o := &op{c: c, id: id, cancel: cancel}
	o.pending.Store(1) // setup's count
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cancel()
		return false
	}
	if slices.ContainsFunc(c.ops, func(x *op) bool { return x.id == id }) {
		c.mu.Unlock()
		cancel()
		c.closeWith(CloseSubscriberExists, limitReason("Subscriber for "+id+" already exists"))
		return false
	}
	c.ops = append(c.ops, o)
	c.mu.Unlock()
	go c.start(ctx, o, payload, start)
	return true
}

// stop ends operation id at the client's request; nothing more is sent for
// it.
func (c *conn) stop(id string) {
	c.mu.Lock()
	i := slices.IndexFunc(c.ops, func(x *op) bool { return x.id == id })
	var o *op
	if i >= 0 {
		o = c.ops[i]
		c.ops = slices.Delete(c.ops, i, i+1)
	}
	c.mu.Unlock()
	if o != nil {
		o.end()
	}
}

// done forgets o once it has ended on the server's side.
func (c *conn) done(o *op) {
	c.mu.Lock()
	if i := slices.Index(c.ops, o); i >= 0 {
		c.ops = slices.Delete(c.ops, i, i+1)
	}
	c.mu.Unlock()
	o.cancel()
}

// start parses, validates and dispatches an operation, on a goroutine of
// its own whose deep stack (parsing, validation, the subscription
// resolver's queries) is dropped when it ends. A subscription is then
// either pushed (its resolver notifies: nothing waits while it is idle) or
// streamed by a fresh goroutine, which starts with a small stack.
func (c *conn) start(ctx context.Context, o *op, payload json.RawMessage, start time.Time) {
	var rc *graphql.OperationContext
	owned := false // true once drain or stream has taken the operation over
	defer func() {
		if v := recover(); v != nil {
			c.sendPanic(ctx, o, rc, v)
		}
		if !owned {
			c.done(o)
		}
	}()
	o.idJSON, _ = json.Marshal(o.id) // before any frame of o
	o.opKey = operationKey(payload)
	params, ok := parseParams(payload)
	if !ok {
		c.closeWith(CloseBadRequest, "Invalid message received")
		return
	}
	ctx = context.WithValue(graphql.StartOperationTrace(ctx), notifierKey{}, o)
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		if ctx.Err() != nil {
			return // completed by the client meanwhile
		}
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			c.sendErrors(o, resp.Errors)
			return
		}
		if c.sendNext(o, resp) == nil {
			c.sendComplete(o)
		}
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	owned = true
	if o.push.CompareAndSwap(pushOpen, pushWaiting) {
		if rc.Operation != nil && rc.Operation.Operation == ast.Subscription {
			go c.stream(ctx, o, rc, responses)
		} else {
			c.stream(ctx, o, rc, responses)
		}
		return
	}
	// Pushed: publish what drain needs, then give up setup's count; values
	// notified meanwhile (the first one) are drained here.
	o.ctx, o.rc, o.responses = ctx, rc, responses
	if o.pending.Add(-1) != 0 {
		c.drain(o)
	}
}

// drain sends a pushed operation's responses, one per notification, until
// none is pending. It never blocks on the stream: each notification stands
// for a value in the channel, its closing, or the operation's cancellation.
func (c *conn) drain(o *op) {
	for {
		if !o.ended {
			c.drainOne(o)
		}
		if o.pending.Add(-1) == 0 {
			return
		}
	}
}

func (c *conn) drainOne(o *op) {
	defer func() {
		if v := recover(); v != nil {
			c.sendPanic(o.ctx, o, o.rc, v)
			o.ended = true
			c.done(o)
		}
	}()
	ctx := o.ctx
	if o.src != nil {
		if key := o.src.nextKey(); key != nil && ctx.Err() == nil {
			c.drainShared(o, shareKey{key: key, op: o.opKey})
			return
		}
	}
	c.handleResponse(o, o.responses(ctx))
}

// drainShared sends a shared value (see share.go): the response another
// subscriber's execution left for k, or, for the first one there, or when
// that execution could not be shared, its own.
func (c *conn) drainShared(o *op, k shareKey) {
	e, owner := c.t.shared.claim(k)
	if !owner {
		<-e.done
		if e.data != nil {
			o.src.skip()
			c.t.shared.hits.Add(1)
			if c.sendData(o, e.data) != nil {
				o.cancel()
			}
			return
		}
		c.handleResponse(o, o.responses(o.ctx))
		return
	}
	c.handleResponse(o, c.executeShared(o, e))
}

// executeShared executes o for entry e and fills it. e is done before
// anything is written: the others must not wait for this connection's
// socket. On a panic e stays empty and the others execute on their own.
func (c *conn) executeShared(o *op, e *shared) *graphql.Response {
	defer close(e.done)
	w := &watch{}
	resp := o.responses(context.WithValue(o.ctx, watchKey{}, w))
	if resp != nil && o.ctx.Err() == nil && w.clean() && dataOnly(resp) && len(resp.Data) > 0 {
		e.data = bytes.Clone(resp.Data) // Data is the executor's buffer, reused
	}
	return resp
}

// handleResponse sends what a pushed operation's stream gave: a response,
// or its end (nil).
func (c *conn) handleResponse(o *op, resp *graphql.Response) {
	switch {
	case resp == nil:
		o.ended = true
		if o.ctx.Err() == nil {
			c.sendComplete(o)
		}
		c.done(o)
	case o.ctx.Err() == nil:
		if c.sendNext(o, resp) != nil {
			o.cancel() // the connection is failing: its reader ends o
		}
	}
}

// stream sends the operation's responses until it ends, then complete —
// unless the client completed it or the connection is closing.
func (c *conn) stream(ctx context.Context, o *op, rc *graphql.OperationContext, responses graphql.ResponseHandler) {
	defer func() {
		if v := recover(); v != nil {
			c.sendPanic(ctx, o, rc, v)
		}
		c.done(o)
	}()
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		if o.src != nil {
			o.src.nextKey() // a Stream's keys are used only when pushed
		}
		if ctx.Err() != nil || c.sendNext(o, resp) != nil {
			return
		}
	}
	if ctx.Err() == nil {
		c.sendComplete(o)
	}
}

func (c *conn) sendPanic(ctx context.Context, o *op, rc *graphql.OperationContext, v any) {
	var err error
	if rc != nil && rc.RecoverFunc != nil {
		err = rc.Recover(ctx, v)
	} else {
		err = fmt.Errorf("panic: %v", v)
	}
	var gerr *gqlerror.Error
	if !errors.As(err, &gerr) {
		gerr = &gqlerror.Error{Message: "internal system error"}
	}
	c.sendErrors(o, gqlerror.List{gerr})
}

// Frames are written whole, from pooled buffers.
var (
	frameAck  = []byte(`{"type":"connection_ack"}`)
	framePing = []byte(`{"type":"ping"}`)
	framePong = []byte(`{"type":"pong"}`)
	bufs      = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

func (c *conn) write(ctx context.Context, frame []byte) error {
	return c.ws.Write(ctx, websocket.MessageText, frame)
}

// writeFrame writes {"id":…,"type":typ[,"payload":payload]}; payload
// appends the payload's JSON to b.
func (c *conn) writeFrame(o *op, typ string, payload func(b []byte) ([]byte, error)) error {
	bp := bufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"id":`...)
	b = append(b, o.idJSON...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	var err error
	if payload != nil {
		b = append(b, `,"payload":`...)
		b, err = payload(b)
	}
	b = append(b, '}')
	if err == nil {
		// Writes of an operation go without a deadline: a connection that
		// stops taking them is closed by the keepalive timer.
		err = c.write(context.Background(), b)
	}
	if cap(b) <= 64<<10 { // do not keep a large query result's buffer
		*bp = b
		bufs.Put(bp)
	}
	return err
}

func (c *conn) sendNext(o *op, resp *graphql.Response) error {
	return c.writeFrame(o, "next", func(b []byte) ([]byte, error) { return appendResponse(b, resp) })
}

// sendData sends a next frame of data alone, already JSON.
func (c *conn) sendData(o *op, data []byte) error {
	return c.writeFrame(o, "next", func(b []byte) ([]byte, error) {
		b = append(b, `{"data":`...)
		b = append(b, data...)
		return append(b, '}'), nil
	})
}

func (c *conn) sendErrors(o *op, list gqlerror.List) error {
	return c.writeFrame(o, "error", func(b []byte) ([]byte, error) {
		j, err := json.Marshal(list)
		return append(b, j...), err
	})
}

func (c *conn) sendComplete(o *op) error { return c.writeFrame(o, "complete", nil) }

// appendResponse appends resp as JSON. The common case — data only — is
// written as is: gqlgen's Data is already JSON, and encoding/json would scan
// it again.
func appendResponse(b []byte, resp *graphql.Response) ([]byte, error) {
	if dataOnly(resp) {
		b = append(b, `{"data":`...)
		if len(resp.Data) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, resp.Data...)
		}
		return append(b, '}'), nil
	}
	j, err := json.Marshal(resp)
	return append(b, j...), err
}

// dataOnly reports whether resp carries nothing but data.
func dataOnly(resp *graphql.Response) bool {
	return len(resp.Errors) == 0 && len(resp.Extensions) == 0 && resp.Label == "" && resp.Path == nil && resp.HasNext == nil
}

// pong answers a ping, echoing its payload.
func (c *conn) pong(payload json.RawMessage) {
	if p := bytes.TrimSpace(payload); len(p) > 0 && string(p) != "null" {
		b := make([]byte, 0, len(p)+32)
		b = append(b, `{"type":"pong","payload":`...)
		b = append(b, p...)
		_ = c.write(context.Background(), append(b, '}'))
		return
	}
	_ = c.write(context.Background(), framePong)
}

// leanWriter hands coder/websocket buffers of its own size when it hijacks
// the connection, instead of net/http's 4 KB reader and 4 KB writer, which a
// connection would keep for its whole life. When net/http has already
// buffered bytes of the connection (a client that did not wait for the
// upgrade's answer), its buffers are kept so nothing is lost.
type leanWriter struct {
	http.ResponseWriter
	readSize, writeSize int
}

func (w *leanWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *leanWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 || brw.Writer.Buffered() > 0 {
		return nc, brw, err
	}
	return nc, bufio.NewReadWriter(bufio.NewReaderSize(nc, w.readSize), bufio.NewWriterSize(nc, w.writeSize)), nil
}
