package gqlws_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"signet/server/gqlws"
)

// shareExec stands in for gqlgen's executor with subscriptions that stream
// through a gqlws.Stream. Each execution of an event is counted, and it
// passes its field through ShareGuard as gqlgen's field middleware would:
// a query mentioning "viewer" resolves a field that reads the context (a
// resolver: its data names the viewer), one mentioning "noguard" runs no
// field middleware (a server without ShareGuard), any other only a plain
// struct field. The data is {"v":value} plus "who" for "viewer".
type shareExec struct {
	executions atomic.Int64
	mu         sync.Mutex
	streams    []*gqlws.Stream[string]
	started    chan *gqlws.Stream[string]
}

func (f *shareExec) CreateOperationContext(ctx context.Context, p *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	return &graphql.OperationContext{RawQuery: p.Query, Variables: p.Variables,
		Operation: &ast.OperationDefinition{Operation: ast.Subscription}}, nil
}

func (f *shareExec) DispatchOperation(ctx context.Context, rc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	st := gqlws.NewStream[string](ctx, 8)
	if !strings.Contains(rc.RawQuery, "late") {
		st.Send("first") // the subscriber's own first value: the operation is pushed
	}
	f.mu.Lock()
	f.streams = append(f.streams, st)
	f.mu.Unlock()
	f.started <- st
	who, _ := ctx.Value(viewerKey{}).(string)
	resolver := strings.Contains(rc.RawQuery, "viewer")
	guarded := !strings.Contains(rc.RawQuery, "noguard")
	return func(ctx context.Context) *graphql.Response {
		select {
		case v, ok := <-st.C():
			if !ok {
				return nil
			}
			f.executions.Add(1)
			data := fmt.Sprintf(`{"v":%q}`, v)
			if resolver {
				data = fmt.Sprintf(`{"v":%q,"who":%q}`, v, who)
			}
			if guarded {
				fc := &graphql.FieldContext{Object: "T", IsResolver: resolver,
					Field: graphql.CollectedField{Field: &ast.Field{Name: "v", Definition: &ast.FieldDefinition{Name: "v"}}}}
				_, _ = gqlws.ShareGuard{}.InterceptField(graphql.WithFieldContext(ctx, fc),
					func(context.Context) (any, error) { return v, nil })
			}
			return &graphql.Response{Data: []byte(data)}
		case <-ctx.Done():
			return nil
		}
	}, ctx
}

func (f *shareExec) DispatchError(ctx context.Context, list gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: list}
}

// subscriber is one connection with one subscription of shareExec.
type subscriber struct {
	c  *client
	id string
	st *gqlws.Stream[string]
}

func subscribeShared(t *testing.T, exec *shareExec, tr *gqlws.Transport, token, id, query, vars string) subscriber {
	t.Helper()
	srv := serve(t, tr, exec)
	c := dial(t, srv)
	c.send(`{"type":"connection_init","payload":{"token":"` + token + `"}}`)
	c.expect(`{"type":"connection_ack"}`)
	c.send(`{"id":"` + id + `","type":"subscribe","payload":{"query":"` + query + `","variables":` + vars + `}}`)
	st := <-exec.started
	first := `{"v":"first"}`
	if strings.Contains(query, "viewer") {
		first = `{"v":"first","who":"` + token + `"}`
	}
	c.expect(`{"id":"` + id + `","type":"next","payload":{"data":` + first + `}}`)
	return subscriber{c: c, id: id, st: st}
}

// broadcast sends v to every subscriber as a flow hub does: one key for all.
func broadcast(t *testing.T, subs []subscriber, key any, v string, shared bool) {
	t.Helper()
	for _, s := range subs {
		var ok bool
		if shared {
			ok = s.st.SendShared(key, v)
		} else {
			ok = s.st.Send(v)
		}
		if !ok {
			t.Fatal("stream full")
		}
	}
}

func TestSharedResponses(t *testing.T) {
	t.Run("one execution per event for the same operation", func(t *testing.T) {
		exec := &shareExec{started: make(chan *gqlws.Stream[string], 10)}
		tr := &gqlws.Transport{}
		var subs []subscriber
		for i, token := range []string{"good", "other", "good"} {
			subs = append(subs, subscribeShared(t, exec, tr, token, fmt.Sprintf("op-%d", i), "subscription { v }", `{"flow":"7"}`))
		}
		exec.executions.Store(0)
		for round, v := range []string{"a", "b", "c"} {
			broadcast(t, subs, round, v, true)
		}
		for _, s := range subs {
			for _, v := range []string{"a", "b", "c"} {
				s.c.expect(`{"id":"` + s.id + `","type":"next","payload":{"data":{"v":"` + v + `"}}}`)
			}
		}
		if n := exec.executions.Load(); n != 3 {
			t.Errorf("%d executions for 3 events to 3 subscribers, want 3", n)
		}

		// Other variables: another operation, executed on its own.
		other := subscribeShared(t, exec, tr, "good", "x", "subscription { v }", `{"flow":"8"}`)
		exec.executions.Store(0)
		broadcast(t, append(subs, other), "d", "d", true)
		for _, s := range append(subs, other) {
			s.c.expect(`{"id":"` + s.id + `","type":"next","payload":{"data":{"v":"d"}}}`)
		}
		if n := exec.executions.Load(); n != 2 {
			t.Errorf("%d executions for one event to two operations, want 2", n)
		}

		// A value sent with Send is executed for each subscriber.
		exec.executions.Store(0)
		broadcast(t, subs, nil, "e", false)
		for _, s := range subs {
			s.c.expect(`{"id":"` + s.id + `","type":"next","payload":{"data":{"v":"e"}}}`)
		}
		if n := exec.executions.Load(); n != 3 {
			t.Errorf("%d executions of an unshared value to 3 subscribers, want 3", n)
		}
	})

	t.Run("a field that may read the viewer is never shared", func(t *testing.T) {
		exec := &shareExec{started: make(chan *gqlws.Stream[string], 10)}
		tr := &gqlws.Transport{}
		good := subscribeShared(t, exec, tr, "good", "1", "subscription { v viewer }", `{}`)
		other := subscribeShared(t, exec, tr, "other", "1", "subscription { v viewer }", `{}`)
		exec.executions.Store(0)
		for i := 0; i < 2; i++ {
			broadcast(t, []subscriber{good, other}, "k", "a", true)
		}
		for i := 0; i < 2; i++ {
			good.c.expect(`{"id":"1","type":"next","payload":{"data":{"v":"a","who":"good"}}}`)
			other.c.expect(`{"id":"1","type":"next","payload":{"data":{"v":"a","who":"other"}}}`)
		}
		if n := exec.executions.Load(); n != 4 {
			t.Errorf("%d executions, want 4 (each subscriber's own)", n)
		}
	})

	t.Run("nothing is shared without ShareGuard", func(t *testing.T) {
		exec := &shareExec{started: make(chan *gqlws.Stream[string], 10)}
		tr := &gqlws.Transport{}
		subs := []subscriber{
			subscribeShared(t, exec, tr, "good", "1", "subscription { v noguard }", `{}`),
			subscribeShared(t, exec, tr, "other", "1", "subscription { v noguard }", `{}`),
		}
		exec.executions.Store(0)
		broadcast(t, subs, "k", "a", true)
		for _, s := range subs {
			s.c.expect(`{"id":"1","type":"next","payload":{"data":{"v":"a"}}}`)
		}
		if n := exec.executions.Load(); n != 2 {
			t.Errorf("%d executions, want 2", n)
		}
	})

	t.Run("a stream ends after its shared values", func(t *testing.T) {
		exec := &shareExec{started: make(chan *gqlws.Stream[string], 10)}
		tr := &gqlws.Transport{}
		subs := []subscriber{
			subscribeShared(t, exec, tr, "good", "1", "subscription { v }", `{}`),
			subscribeShared(t, exec, tr, "good", "2", "subscription { v }", `{}`),
		}
		broadcast(t, subs, "last", "z", true)
		for _, s := range subs {
			s.st.Close()
		}
		for _, s := range subs {
			s.c.expect(`{"id":"` + s.id + `","type":"next","payload":{"data":{"v":"z"}}}`)
			s.c.expect(`{"id":"` + s.id + `","type":"complete"}`)
		}
	})
}

// TestSharedResponsesUnderLoad: many subscribers and events at once, each
// subscriber gets every event in order, and each event is executed once.
func TestSharedResponsesUnderLoad(t *testing.T) {
	const subscribers, events = 40, 25
	exec := &shareExec{started: make(chan *gqlws.Stream[string], subscribers)}
	tr := &gqlws.Transport{}
	subs := make([]subscriber, subscribers)
	for i := range subs {
		subs[i] = subscribeShared(t, exec, tr, "good", fmt.Sprint(i), "subscription { v }", `{}`)
	}
	exec.executions.Store(0)
	var wg sync.WaitGroup
	wg.Go(func() {
		for e := range events {
			for _, s := range subs {
				for !s.st.SendShared(e, fmt.Sprint(e)) {
					time.Sleep(time.Millisecond) // full: the client is reading
				}
			}
		}
	})
	for _, s := range subs {
		wg.Go(func() {
			for e := range events {
				f, err := s.c.read(10 * time.Second)
				want := `{"id":"` + s.id + `","type":"next","payload":{"data":{"v":"` + fmt.Sprint(e) + `"}}}`
				if err != nil || f.raw != want {
					t.Errorf("subscriber %s, event %d: %v %s", s.id, e, err, f.raw)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := exec.executions.Load(); n != events {
		t.Errorf("%d executions for %d events to %d subscribers, want %d", n, events, subscribers, events)
	}
}

// TestSharedValuesOfAWaitingOperation: a resolver whose first value comes
// only after it returned gets a goroutine waiting on its Stream; its shared
// values are delivered in order all the same (each executed on its own).
func TestSharedValuesOfAWaitingOperation(t *testing.T) {
	exec := &shareExec{started: make(chan *gqlws.Stream[string], 2)}
	srv := serve(t, &gqlws.Transport{}, exec)
	c := dial(t, srv)
	c.init()
	c.send(`{"id":"1","type":"subscribe","payload":{"query":"subscription { v late }"}}`)
	st := <-exec.started
	time.Sleep(50 * time.Millisecond) // setup is over: the operation waits on the stream
	for i := range 20 {
		for !st.SendShared(i, fmt.Sprint(i)) {
			time.Sleep(time.Millisecond)
		}
	}
	for i := range 20 {
		c.expect(fmt.Sprintf(`{"id":"1","type":"next","payload":{"data":{"v":"%d"}}}`, i))
	}
	st.Close()
	c.expect(`{"id":"1","type":"complete"}`)
}

// TestStreamOutsideTransport: under another transport a Stream is a plain
// buffered channel that refuses values when full.
func TestStreamOutsideTransport(t *testing.T) {
	st := gqlws.NewStream[int](context.Background(), 2)
	if !st.Send(1) || !st.SendShared("k", 2) || st.Send(3) {
		t.Fatal("a stream of 2 should take 2 values and refuse the third")
	}
	st.Close()
	var got []int
	for v := range st.C() {
		got = append(got, v)
	}
	if fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("got %v", got)
	}
}
