package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fmt"
	"log/slog"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"signet/app"
	"signet/config"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/sms"
	"signet/sms/aliyunfake"
)

func dialWS(t *testing.T, s *apitest.Server, origin string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: h,
	})
}

type wsMsg struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func readWS(t *testing.T, c *websocket.Conn) (wsMsg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var m wsMsg
	err := wsjson.Read(ctx, c, &m)
	return m, err
}

// TestWebsocket checks graphql-transport-ws: connection_init authentication,
// the origin allow-list, and a subscription delivering events.
func TestWebsocket(t *testing.T) {
	s := apitest.Start(t, dbtest.SQLite(t), apitest.Options{})
	token := s.Register(phoneA, passA)
	ctx := context.Background()

	t.Run("authenticated subscription", func(t *testing.T) {
		c, _, err := dialWS(t, s, s.URL)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + token}})
		if m, err := readWS(t, c); err != nil || m.Type != "connection_ack" {
			t.Fatalf("init: %+v %v, want connection_ack", m, err)
		}
		wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{
			"query": "subscription { heartbeat(intervalSeconds: 1) }"}})
		for {
			m, err := readWS(t, c)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.Type == "ping" || m.Type == "pong" {
				continue
			}
			if m.Type != "next" || !strings.Contains(string(m.Payload), "heartbeat") {
				t.Fatalf("got %s %s, want a heartbeat", m.Type, m.Payload)
			}
			break
		}
		// The connection is authenticated: a query over it sees the user.
		wsjson.Write(ctx, c, map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{"query": "{ me { phone } }"}})
		for {
			m, err := readWS(t, c)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.ID != "2" || m.Type != "next" {
				continue
			}
			if !strings.Contains(string(m.Payload), phoneA) {
				t.Fatalf("me over websocket = %s, want the user's phone", m.Payload)
			}
			break
		}
	})

	t.Run("bad token refused at connection_init", func(t *testing.T) {
		c, _, err := dialWS(t, s, s.URL)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer sgt_forged"}})
		m, err := readWS(t, c)
		if err == nil && m.Type == "connection_ack" {
			t.Fatalf("forged token acknowledged")
		}
		if err == nil {
			t.Fatalf("got %+v, want the connection closed", m)
		}
		// 4403 Forbidden: graphql-ws does not retry it, and the H5 app
		// maps it to UNAUTHENTICATED (mobile/src/api/errors.ts).
		if status := websocket.CloseStatus(err); status != 4403 {
			t.Fatalf("closed with %v, want close code 4403", err)
		}
	})

	t.Run("legacy graphql-ws protocol still served", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		h := http.Header{}
		h.Set("Origin", s.URL)
		c, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", &websocket.DialOptions{
			Subprotocols: []string{"graphql-ws"}, HTTPHeader: h,
		})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		if c.Subprotocol() != "graphql-ws" {
			t.Fatalf("subprotocol %q, want graphql-ws", c.Subprotocol())
		}
		wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + token}})
		if m, err := readWS(t, c); err != nil || m.Type != "connection_ack" {
			t.Fatalf("init: %+v %v, want connection_ack", m, err)
		}
		wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": "{ me { phone } }"}})
		for {
			m, err := readWS(t, c)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.ID == "1" && m.Type == "data" {
				if !strings.Contains(string(m.Payload), phoneA) {
					t.Fatalf("me over graphql-ws = %s", m.Payload)
				}
				break
			}
		}
	})

	t.Run("foreign origin refused", func(t *testing.T) {
		_, resp, err := dialWS(t, s, "https://evil.example.com")
		if err == nil {
			t.Fatal("websocket from a foreign origin was accepted")
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("response %v, want 403", resp)
		}
	})

	t.Run("anonymous connection cannot read me", func(t *testing.T) {
		c, _, err := dialWS(t, s, s.URL)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.CloseNow()
		wsjson.Write(ctx, c, map[string]any{"type": "connection_init"})
		if m, err := readWS(t, c); err != nil || m.Type != "connection_ack" {
			t.Fatalf("init: %+v %v", m, err)
		}
		wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ me { phone } }"}})
		for {
			m, err := readWS(t, c)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if m.ID != "1" {
				continue
			}
			if !strings.Contains(string(m.Payload), "UNAUTHENTICATED") {
				t.Fatalf("anonymous me = %s %s, want UNAUTHENTICATED", m.Type, m.Payload)
			}
			break
		}
	})
}

// TestSSE checks the server-sent events transport for subscriptions.
func TestSSE(t *testing.T) {
	s := apitest.Start(t, dbtest.SQLite(t), apitest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	body := strings.NewReader(`{"query":"subscription { heartbeat(intervalSeconds: 1) }"}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/graphql", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q, want text/event-stream", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data:") && strings.Contains(sc.Text(), "heartbeat") {
			return
		}
	}
	t.Fatalf("no heartbeat event: %v", sc.Err())
}

// TestOperationalEndpoints checks health, readiness, metrics, request IDs,
// the development-only pages and the embedded app.
func TestOperationalEndpoints(t *testing.T) {
	s := apitest.Start(t, dbtest.SQLite(t), apitest.Options{})
	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", "ready", 200},
		{"/metrics", "signet_http_request_duration_seconds", 200},
		{"/playground", "GraphQL", 200},
		{"/dev/outbox?phone=13800138000", "messages", 200},
		{"/dev/outbox", "phone", 400},
		{"/", "", 0}, // the app or the build hint
		{"/s/abc123", "", 0},
		{"/assets/missing.js", "", 404},
	} {
		status, body := s.Get(tc.path)
		if tc.status != 0 && status != tc.status {
			t.Errorf("GET %s = %d, want %d", tc.path, status, tc.status)
		}
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("GET %s body %.80q, want it to contain %q", tc.path, body, tc.want)
		}
	}
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID on the response")
	}
	// Introspection works in development.
	r := s.Do("", `{ __schema { queryType { name } } }`, nil)
	if r.Code() != "" {
		t.Errorf("introspection in development: %+v", r.Errors)
	}
	// An oversized request body is refused, not read.
	big := strings.Repeat("x", 2<<20)
	resp, err = http.Post(s.URL+"/graphql", "application/json", strings.NewReader(`{"query":"`+big+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("2 MiB GraphQL body accepted with 200")
	}
}

// TestProductionMode checks that production hides development features,
// refuses an unmigrated database, and sends real SMS through the Aliyun
// provider (against a local fake of its API that verifies signatures).
func TestProductionMode(t *testing.T) {
	templates := map[string]string{}
	codes := map[string]string{}
	for i, spec := range sms.Templates() {
		code := fmt.Sprintf("SMS_%d", 100000+i)
		templates[code] = spec.Text
		codes[string(spec.Template)] = code
	}
	fake := aliyunfake.New(aliyunfake.Config{AccessKeyID: "LTAI-test", AccessKeySecret: "secret-test", SignName: "签网", Templates: templates})
	defer fake.Close()
	prod := func(c *config.Config) {
		c.SMS = config.SMSConfig{Provider: "aliyun", AliyunEndpoint: fake.URL(), AliyunAccessKeyID: "LTAI-test",
			AliyunAccessKeySecret: "secret-test", AliyunSignName: "签网", Templates: codes}
	}

	b := dbtest.SQLite(t)
	cfg := config.Default()
	cfg.Mode = config.Production
	cfg.DataDir = t.TempDir()
	prod(&cfg)
	if _, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{}); err == nil || !strings.Contains(err.Error(), "signet migrate") {
		t.Fatalf("production start on an empty database: %v, want a refusal naming signet migrate", err)
	}

	apitest.Start(t, b, apitest.Options{}) // development start migrates, like `signet migrate`
	s := apitest.Start(t, b, apitest.Options{Mode: config.Production, Configure: prod})
	for _, p := range []string{"/playground", "/dev/outbox?phone=13800138000"} {
		_, body := s.Get(p)
		if strings.Contains(string(body), "messages") || strings.Contains(string(body), "GraphiQL") {
			t.Errorf("GET %s in production serves the development page", p)
		}
	}
	if r := s.Do("", `{ __schema { queryType { name } } }`, nil); r.Code() == "" {
		t.Errorf("introspection is open in production")
	}

	// A registration code goes out through the Aliyun provider.
	s.MustDo("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "13800138000"}) { maskedPhone } }`, nil, nil)
	msgs := fake.Messages()
	if len(msgs) != 1 || msgs[0].Phone != phoneA || msgs[0].TemplateCode != codes["register"] || len(msgs[0].Params["code"]) != 6 {
		t.Fatalf("aliyun received %+v, want one register code to %s", msgs, phoneA)
	}
	var reg struct{ Register struct{ Token string } }
	s.MustDo("", apitest.RegisterMutation, map[string]any{"in": apitest.RegisterInput(phoneA, passA, msgs[0].Params["code"])}, &reg)
	if reg.Register.Token == "" {
		t.Fatal("no token")
	}
	// A provider outage is an INTERNAL error with a clear message, and the
	// withdrawn code does not count against the resend interval.
	fake.SetFault(aliyunfake.Fault{HTTPStatus: 503, Times: 1})
	r := s.Do("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "13900139000"}) { maskedPhone } }`, nil)
	if r.Code() != "INTERNAL" || r.Message() != "短信发送失败，请稍后再试" {
		t.Fatalf("outage: %q %q, want INTERNAL 短信发送失败，请稍后再试", r.Code(), r.Message())
	}
	s.MustDo("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "13900139000"}) { maskedPhone } }`, nil, nil)

	// Production never creates the CA: without `signet ca init` it refuses.
	b2 := dbtest.SQLite(t)
	apitest.Start(t, b2, apitest.Options{})
	dir := filepath.Dir(b2.SQLitePath)
	if err := os.Remove(filepath.Join(dir, "master.key")); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = dir
	if _, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler), app.Options{}); err == nil || !strings.Contains(err.Error(), "signet ca init") {
		t.Fatalf("production start without a CA: %v, want a refusal naming signet ca init", err)
	}
}
