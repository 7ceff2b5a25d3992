package gqlws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/coder/websocket"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"signet/server/gqlws"
)

// fakeExec stands in for gqlgen's executor: a query answers {"n":1}; the
// query "bad" fails validation; any other subscription streams what the
// test sends on its channel (one per operation, in order of dispatch). A
// subscription whose query mentions "pushed" notifies the transport, as
// flowUpdated did before it used a Stream, starting with {"x":0}.
type fakeExec struct {
	mu      sync.Mutex
	streams []*stream
	started chan *stream
}

type stream struct {
	ch     chan string
	ctx    context.Context
	viewer string
	notify func()
}

// send streams v, as a resolver does.
func (s *stream) send(v string) {
	s.ch <- v
	if s.notify != nil {
		s.notify()
	}
}

// end closes the stream, as a resolver does when its source ends.
func (s *stream) end() {
	close(s.ch)
	if s.notify != nil {
		s.notify()
	}
}

type viewerKey struct{}

func newFakeExec() *fakeExec { return &fakeExec{started: make(chan *stream, 100)} }

func (f *fakeExec) CreateOperationContext(ctx context.Context, p *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	rc := &graphql.OperationContext{RawQuery: p.Query, Variables: p.Variables}
	if p.Query == "bad" {
		err := gqlerror.Errorf("Cannot query field \"bad\"")
		errcode.Set(err, errcode.ValidationFailed)
		return rc, gqlerror.List{err}
	}
	kind := ast.Subscription
	if strings.HasPrefix(p.Query, "{") || strings.HasPrefix(p.Query, "query") {
		kind = ast.Query
	}
	rc.Operation = &ast.OperationDefinition{Operation: kind}
	return rc, nil
}

func (f *fakeExec) DispatchOperation(ctx context.Context, rc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	if rc.Operation.Operation == ast.Query {
		return graphql.OneShot(&graphql.Response{Data: []byte(`{"n":1}`)}), ctx
	}
	v, _ := ctx.Value(viewerKey{}).(string)
	s := &stream{ch: make(chan string, 8), ctx: ctx, viewer: v}
	if strings.Contains(rc.RawQuery, "pushed") {
		s.notify = gqlws.Notifier(ctx)
		s.send(`{"x":0}`)
	}
	f.mu.Lock()
	f.streams = append(f.streams, s)
	f.mu.Unlock()
	f.started <- s
	return func(ctx context.Context) *graphql.Response {
		select {
		case v, ok := <-s.ch:
			if !ok {
				return nil
			}
			if v == "panic" {
				panic("boom")
			}
			return &graphql.Response{Data: []byte(v)}
		case <-ctx.Done():
			return nil
		}
	}, ctx
}

func (f *fakeExec) DispatchError(ctx context.Context, list gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: list}
}

// server starts tr in front of a fake executor.
func server(t *testing.T, tr *gqlws.Transport) (*httptest.Server, *fakeExec) {
	t.Helper()
	exec := newFakeExec()
	return serve(t, tr, exec), exec
}

// serve starts tr in front of exec; without an InitFunc, connection_init
// takes the tokens "good" and "other" as the viewer, "down" is the
// server's failure and any other token is refused.
func serve(t *testing.T, tr *gqlws.Transport, exec graphql.GraphExecutor) *httptest.Server {
	t.Helper()
	if tr.InitFunc == nil {
		tr.InitFunc = func(ctx context.Context, p map[string]any) (context.Context, error) {
			switch p["token"] {
			case "good", "other", nil:
				return context.WithValue(ctx, viewerKey{}, p["token"]), nil
			case "down":
				return nil, &gqlws.CloseError{Code: 1013, Reason: "Try Again Later", Err: errors.New("database down")}
			}
			return nil, errors.New("bad token")
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tr.Supports(r) {
			http.Error(w, "not supported", http.StatusBadRequest)
			return
		}
		tr.Do(w, r, exec)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type client struct {
	t *testing.T
	c *websocket.Conn
}

func dial(t *testing.T, srv *httptest.Server) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		Subprotocols: []string{gqlws.Subprotocol}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &client{t: t, c: c}
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.c.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

type frame struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	raw     string
}

// read returns the next frame, or the error that ended the connection.
func (c *client) read(timeout time.Duration) (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("frame %s: %v", b, err)
	}
	f.raw = string(b)
	return f, nil
}

func (c *client) expect(want string) frame {
	c.t.Helper()
	f, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", want, err)
	}
	if f.raw != want {
		c.t.Fatalf("got %s, want %s", f.raw, want)
	}
	return f
}

// expectClose reads until the server closes the connection and checks the
// close code.
func (c *client) expectClose(code int) {
	c.t.Helper()
	for {
		f, err := c.read(5 * time.Second)
		if err == nil {
			c.t.Logf("frame before close: %s", f.raw)
			continue
		}
		if got := int(websocket.CloseStatus(err)); got != code {
			c.t.Fatalf("connection ended with %v (close code %d), want close code %d", err, got, code)
		}
		return
	}
}

func (c *client) init() {
	c.t.Helper()
	c.send(`{"type":"connection_init","payload":{"token":"good"}}`)
	c.expect(`{"type":"connection_ack"}`)
}

// modes are the two ways an operation is streamed: a goroutine waiting on
// the resolver's channel, or drained when the resolver notifies.
var modes = []struct{ name, query string }{
	{"waiting", "subscription { x }"},
	{"pushed", "subscription { pushed }"},
}

// subscribe starts query as id and returns its stream, past the pushed
// mode's first value.
func (c *client) subscribe(exec *fakeExec, id, query string) *stream {
	c.t.Helper()
	c.send(`{"id":"` + id + `","type":"subscribe","payload":{"query":"` + query + `","variables":{"n":12345678901234}}}`)
	s := <-exec.started
	if s.notify != nil {
		c.expect(`{"id":"` + id + `","type":"next","payload":{"data":{"x":0}}}`)
	}
	return s
}

func TestSubscriptionLifecycle(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv, exec := server(t, &gqlws.Transport{})
			c := dial(t, srv)
			c.init()
			s := c.subscribe(exec, "s1", m.query)
			if s.viewer != "good" {
				t.Errorf("operation context viewer %q, want InitFunc's", s.viewer)
			}
			s.send(`{"x":1}`)
			c.expect(`{"id":"s1","type":"next","payload":{"data":{"x":1}}}`)
			s.send(`{"x":"二"}`)
			s.send(`{"x":3}`)
			c.expect(`{"id":"s1","type":"next","payload":{"data":{"x":"二"}}}`)
			c.expect(`{"id":"s1","type":"next","payload":{"data":{"x":3}}}`)
			s.end() // the server ends the stream
			c.expect(`{"id":"s1","type":"complete"}`)

			// A panic while streaming is an error for that operation only.
			s = c.subscribe(exec, "p1", m.query)
			s.send("panic")
			f, err := c.read(5 * time.Second)
			if err != nil || f.ID != "p1" || f.Type != "error" {
				t.Fatalf("after a panic got %s %v, want an error for p1", f.raw, err)
			}
			c.send(`{"type":"ping"}`)
			c.expect(`{"type":"pong"}`) // and nothing else for p1
		})
	}
}

func TestQueriesAndErrors(t *testing.T) {
	srv, _ := server(t, &gqlws.Transport{})
	c := dial(t, srv)
	c.init()
	// Queries and mutations: one next, then complete.
	c.send(`{"id":"q1","type":"subscribe","payload":{"query":"{ n }"}}`)
	c.expect(`{"id":"q1","type":"next","payload":{"data":{"n":1}}}`)
	c.expect(`{"id":"q1","type":"complete"}`)

	// A validation error: error, and nothing after it for that id.
	c.send(`{"id":"v1","type":"subscribe","payload":{"query":"bad"}}`)
	c.expect(`{"id":"v1","type":"error","payload":[{"message":"Cannot query field \"bad\"","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`)
	c.send(`{"type":"ping"}`)
	c.expect(`{"type":"pong"}`) // not a complete for v1
}

func TestClientCompleteStopsOperation(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv, exec := server(t, &gqlws.Transport{})
			c := dial(t, srv)
			c.init()
			s := c.subscribe(exec, "a", m.query)
			c.send(`{"id":"a","type":"complete"}`)
			select {
			case <-s.ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the operation's context was not cancelled by the client's complete")
			}
			s.send(`{"x":"late"}`) // nothing more is sent for a
			// The id is free again.
			s2 := c.subscribe(exec, "a", m.query)
			s2.send(`{"x":2}`)
			c.expect(`{"id":"a","type":"next","payload":{"data":{"x":2}}}`)
			// A complete for an unknown id is ignored.
			c.send(`{"id":"zzz","type":"complete"}`)
			c.send(`{"type":"ping","payload":{"k":"v"}}`)
			c.expect(`{"type":"pong","payload":{"k":"v"}}`)
		})
	}
}

func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   *gqlws.Transport
		send []string
		code int
	}{
		{"init refused", &gqlws.Transport{}, []string{`{"type":"connection_init","payload":{"token":"forged"}}`}, 4403},
		{"init refused with a close error", &gqlws.Transport{}, []string{`{"type":"connection_init","payload":{"token":"down"}}`}, 1013},
		{"no init in time", &gqlws.Transport{InitTimeout: 100 * time.Millisecond}, nil, 4408},
		{"pings do not count as init", &gqlws.Transport{InitTimeout: 200 * time.Millisecond}, []string{`{"type":"ping"}`}, 4408},
		{"subscribe before init", &gqlws.Transport{}, []string{`{"id":"1","type":"subscribe","payload":{"query":"subscription { x }"}}`}, 4401},
		{"second init", &gqlws.Transport{}, []string{`{"type":"connection_init"}`, `{"type":"connection_init"}`}, 4429},
		{"duplicate id", &gqlws.Transport{}, []string{`{"type":"connection_init"}`,
			`{"id":"1","type":"subscribe","payload":{"query":"subscription { x }"}}`,
			`{"id":"1","type":"subscribe","payload":{"query":"subscription { y }"}}`}, 4409},
		{"unknown type", &gqlws.Transport{}, []string{`{"type":"connection_init"}`, `{"type":"start","id":"1"}`}, 4400},
		{"server-to-client type", &gqlws.Transport{}, []string{`{"type":"connection_init"}`, `{"type":"next","id":"1","payload":{}}`}, 4400},
		{"not json", &gqlws.Transport{}, []string{`{"type":"connection_init"`}, 4400},
		{"no type", &gqlws.Transport{}, []string{`{"id":"1"}`}, 4400},
		{"subscribe without id", &gqlws.Transport{}, []string{`{"type":"connection_init"}`, `{"type":"subscribe","payload":{"query":"{ n }"}}`}, 4400},
		{"numeric id", &gqlws.Transport{}, []string{`{"type":"connection_init"}`, `{"id":1,"type":"subscribe","payload":{"query":"{ n }"}}`}, 4400},
		{"subscribe without query", &gqlws.Transport{}, []string{`{"type":"connection_init"}`, `{"id":"1","type":"subscribe","payload":{}}`}, 4400},
		{"subscribe with a string payload", &gqlws.Transport{}, []string{`{"type":"connection_init"}`, `{"id":"1","type":"subscribe","payload":"{ n }"}`}, 4400},
		{"init with a list payload", &gqlws.Transport{}, []string{`{"type":"connection_init","payload":[1]}`}, 4400},
		{"too large", &gqlws.Transport{ReadLimit: 64}, []string{`{"type":"connection_init","payload":{"token":"` + strings.Repeat("x", 100) + `"}}`}, 1009},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := server(t, tc.tr)
			c := dial(t, srv)
			for _, m := range tc.send {
				c.send(m)
			}
			c.expectClose(tc.code)
		})
	}
}

func TestPingPong(t *testing.T) {
	srv, _ := server(t, &gqlws.Transport{})
	c := dial(t, srv)
	c.send(`{"type":"ping"}`) // allowed before connection_init
	c.expect(`{"type":"pong"}`)
	c.init()
	c.send(`{"type":"ping","payload":{"at":1}}`)
	c.expect(`{"type":"pong","payload":{"at":1}}`)
	c.send(`{"type":"pong"}`) // an unsolicited pong is fine
	c.send(`{"type":"ping","payload":null}`)
	c.expect(`{"type":"pong"}`)
}

func TestKeepalive(t *testing.T) {
	const every = 100 * time.Millisecond
	srv, _ := server(t, &gqlws.Transport{PingInterval: every})

	t.Run("a client that answers stays", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		deadline := time.Now().Add(8 * every)
		pings := 0
		for time.Now().Before(deadline) {
			f, err := c.read(5 * every)
			if err != nil {
				t.Fatalf("after %d pings: %v", pings, err)
			}
			if f.Type == "ping" {
				pings++
				c.send(`{"type":"pong"}`)
			}
		}
		if pings < 4 {
			t.Fatalf("%d pings in %v, want one every %v", pings, 8*every, every)
		}
	})
	t.Run("a silent client is closed", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		start := time.Now()
		for {
			_, err := c.read(10 * every)
			if err != nil {
				if d := time.Since(start); d < 2*every || d > 5*every {
					t.Fatalf("closed after %v, want after two to three intervals of %v", d, every)
				}
				return
			}
		}
	})
}

func TestSupports(t *testing.T) {
	tr := &gqlws.Transport{}
	for _, tc := range []struct {
		protocols string
		want      bool
	}{
		{"graphql-transport-ws", true},
		{"graphql-ws, graphql-transport-ws", true},
		{"graphql-ws", false},
		{"", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/graphql", nil)
		r.Header.Set("Connection", "Upgrade")
		r.Header.Set("Upgrade", "websocket")
		if tc.protocols != "" {
			r.Header.Set("Sec-WebSocket-Protocol", tc.protocols)
		}
		if got := tr.Supports(r); got != tc.want {
			t.Errorf("Supports with protocols %q = %v, want %v", tc.protocols, got, tc.want)
		}
	}
	if tr.Supports(httptest.NewRequest(http.MethodPost, "/graphql", nil)) {
		t.Error("Supports a POST")
	}
}

func TestOriginChecked(t *testing.T) {
	srv, _ := server(t, &gqlws.Transport{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Origin", "https://evil.example.com")
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		Subprotocols: []string{gqlws.Subprotocol}, HTTPHeader: h})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %v %v, want 403", resp, err)
	}
}

// TestGoroutines checks what a connection holds: its reading goroutine,
// one per waiting operation and none for a pushed one, and nothing once it
// is closed.
func TestGoroutines(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv, exec := server(t, &gqlws.Transport{})
			settle := func(want func(int) bool) int {
				deadline := time.Now().Add(5 * time.Second)
				for {
					n := runtime.NumGoroutine()
					if want(n) || time.Now().After(deadline) {
						return n
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			// One warm-up connection so that the server's own goroutines exist.
			w := dial(t, srv)
			w.init()
			w.c.Close(websocket.StatusNormalClosure, "")
			before := settle(func(int) bool { time.Sleep(100 * time.Millisecond); return true })

			const n = 50
			perConn := 2
			if m.name == "pushed" {
				perConn = 1
			}
			var clients []*client
			for i := 0; i < n; i++ {
				c := dial(t, srv)
				c.init()
				s := c.subscribe(exec, "1", m.query)
				s.send(`{"x":1}`)
				c.expect(`{"id":"1","type":"next","payload":{"data":{"x":1}}}`)
				clients = append(clients, c)
			}
			during := settle(func(g int) bool { return g-before <= perConn*n })
			if per := float64(during-before) / n; per > float64(perConn) {
				t.Errorf("%.2f goroutines per subscribed connection, want %d", per, perConn)
			}
			for _, c := range clients {
				c.c.Close(websocket.StatusNormalClosure, "")
			}
			after := settle(func(g int) bool { return g <= before })
			if after > before {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines after closing, %d before:\n%s", after, before, buf[:runtime.Stack(buf, true)])
			}
			// A pushed operation holds no goroutine, so the count above says
			// nothing about it: wait (boundedly) for every operation's end.
			running := func() []int {
				exec.mu.Lock()
				defer exec.mu.Unlock()
				var out []int
				for i, s := range exec.streams {
					if s.ctx.Err() == nil {
						out = append(out, i)
					}
				}
				return out
			}
			for deadline := time.Now().Add(5 * time.Second); len(running()) > 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			for _, i := range running() {
				t.Errorf("operation %d still running after its connection closed", i)
			}
		})
	}
}

// TestAbruptClose: a client that vanishes without a close frame frees its
// operations too.
func TestAbruptClose(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv, exec := server(t, &gqlws.Transport{})
			c := dial(t, srv)
			c.init()
			s := c.subscribe(exec, "1", m.query)
			c.c.CloseNow()
			select {
			case <-s.ctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("operation still running after the client vanished")
			}
		})
	}
}

// TestLateNotifier: a resolver that notifies only after it has returned
// gets a waiting goroutine, and its notifications change nothing.
func TestLateNotifier(t *testing.T) {
	srv, exec := server(t, &gqlws.Transport{})
	c := dial(t, srv)
	c.init()
	c.send(`{"id":"1","type":"subscribe","payload":{"query":"subscription { x }"}}`)
	s := <-exec.started
	time.Sleep(50 * time.Millisecond) // setup is over
	s.notify = gqlws.Notifier(s.ctx)
	if s.notify == nil {
		t.Fatal("no Notifier in an operation's context")
	}
	for i := 1; i <= 3; i++ {
		s.send(fmt.Sprintf(`{"x":%d}`, i))
	}
	for i := 1; i <= 3; i++ {
		c.expect(fmt.Sprintf(`{"id":"1","type":"next","payload":{"data":{"x":%d}}}`, i))
	}
	s.end()
	c.expect(`{"id":"1","type":"complete"}`)
	if gqlws.Notifier(context.Background()) != nil {
		t.Error("a Notifier outside the transport")
	}
}

func ExampleTransport() {
	tr := &gqlws.Transport{
		AcceptOptions: websocket.AcceptOptions{OriginPatterns: []string{"app.example.com"}},
		InitFunc: func(ctx context.Context, payload map[string]any) (context.Context, error) {
			if payload["authorization"] == nil {
				return ctx, nil // anonymous
			}
			return nil, fmt.Errorf("unknown token") // closed with 4403
		},
	}
	_ = tr // srv.AddTransport(tr) before gqlgen's own websocket transport
	// Output:
}
