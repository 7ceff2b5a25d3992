// Package apitest starts whole Signet instances for tests — the same
// composition root, router, middleware and auth that ship — on a real
// listener, and talks to them the way clients do: GraphQL over HTTP, codes
// read from the development outbox at /dev/outbox.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"signet/accounts"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/app"
	"signet/config"
	"signet/database"
	"signet/internal/dbtest"
)

// Clock is a settable clock for the domain services.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Server is a running instance.
type Server struct {
	T      testing.TB
	App    *app.App
	HTTP   *httptest.Server
	URL    string
	Clock  *Clock
	client *http.Client

	mu      sync.Mutex
	captcha string
}

// Options adjust Start.
type Options struct {
	// Mode defaults to development.
	Mode config.Mode
	// Configure edits the config before the app is built.
	Configure func(*config.Config)
	// WrapDB is app.Options.WrapDB (e.g. a statement counter).
	WrapDB func(*database.DB) (*database.DB, error)
	// Policy is app.Options.Policy.
	Policy func(*accounts.Policy)
}

// Start builds an app on backend b and serves it until the test ends.
func Start(t testing.TB, b dbtest.Backend, opts Options) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	if b.SQLitePath != "" {
		cfg.DataDir = strings.TrimSuffix(b.SQLitePath, "/signet.db")
	}
	cfg.DatabaseURL = b.DatabaseURL
	cfg.Argon2 = config.Argon2Config{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1} // fast in tests; cost is benchmarked separately
	if opts.Mode != "" {
		cfg.Mode = opts.Mode
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	// The clock starts at the real time: the CA and the TSA (trust) stamp
	// certificates and tokens with the real clock, and a certificate issued
	// during a test must be valid at the services' time. A fixed start made
	// tests that check a freshly issued certificate fail later in the day.
	s := &Server{T: t, Clock: NewClock(time.Now().UTC().Truncate(time.Second)), captcha: "AB3D"}
	level := slog.LevelWarn
	if os.Getenv("SIGNET_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
	a, err := app.New(context.Background(), cfg, logger, app.Options{
		Now:    s.Clock.Now,
		WrapDB: opts.WrapDB,
		Policy: opts.Policy,
		CaptchaText: func() (string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.captcha, nil
		},
	})
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	s.App = a
	s.HTTP = httptest.NewServer(a.Handler)
	s.URL = s.HTTP.URL
	s.client = s.HTTP.Client()
	// Keep a connection per concurrent caller, as browsers keep theirs
	// alive: Go's default keeps 2 idle per host, so tests and harnesses
	// posting from many goroutines at once dialled a new connection for
	// nearly every request (and the server set up a new one each time).
	s.client.Transport.(*http.Transport).MaxIdleConnsPerHost = 256
	t.Cleanup(func() {
		s.HTTP.Close()
		a.Close()
	})
	return s
}

// SetCaptchaAnswer sets the answer of the next captchas.
func (s *Server) SetCaptchaAnswer(a string) {
	s.mu.Lock()
	s.captcha = a
	s.mu.Unlock()
}

// Response is a GraphQL response.
type Response struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
	Status int `json:"-"`
}

// Code returns the extensions.code of the first error, or "".
func (r Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

// Message returns the first error's message, or "".
func (r Response) Message() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Message
}

// Decode unmarshals data into v.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// Do posts a GraphQL operation as the holder of token ("" for anonymous).
func (s *Server) Do(token, query string, vars map[string]any) Response {
	s.T.Helper()
	return s.DoWithHeaders(map[string]string{"Authorization": bearer(token)}, query, vars)
}

// DoWithHeaders posts a GraphQL operation with extra headers.
func (s *Server) DoWithHeaders(headers map[string]string, query string, vars map[string]any) Response {
	s.T.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.T.Fatalf("graphql request: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil {
		s.T.Fatalf("graphql response %d %q: %v", resp.StatusCode, raw, err)
	}
	r.Status = resp.StatusCode
	return r
}

// MustDo is Do failing the test on any error.
func (s *Server) MustDo(token, query string, vars map[string]any, into any) {
	s.T.Helper()
	r := s.Do(token, query, vars)
	if len(r.Errors) > 0 {
		s.T.Fatalf("graphql errors: %+v", r.Errors)
	}
	if into != nil {
		r.Decode(s.T, into)
	}
}

// Get fetches a path.
func (s *Server) Get(path string) (int, []byte) {
	s.T.Helper()
	resp, err := s.client.Get(s.URL + path)
	if err != nil {
		s.T.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// LastCode returns the code of the newest outbox message to phone with one,
// read through GET /dev/outbox like a developer would.
func (s *Server) LastCode(phone string) string {
	s.T.Helper()
	status, body := s.Get("/dev/outbox?phone=" + url.QueryEscape(phone))
	if status != http.StatusOK {
		s.T.Fatalf("outbox: %d %s", status, body)
	}
	var out struct {
		Messages []struct {
			Params map[string]string `json:"params"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		s.T.Fatalf("outbox: %v", err)
	}
	// The newest message with a code: a job may text the phone something
	// else (a signing link) after the code.
	for _, m := range out.Messages {
		if code := m.Params["code"]; code != "" {
			return code
		}
	}
	s.T.Fatalf("outbox: no code for %s", phone)
	return ""
}

// SendCode requests a code and returns it from the outbox.
func (s *Server) SendCode(token, purpose, phone string) string {
	s.T.Helper()
	s.MustDo(token, `mutation($p: SMSPurpose!, $phone: String) { sendSMSCode(input: {purpose: $p, phone: $phone}) { maskedPhone } }`,
		map[string]any{"p": purpose, "phone": phone}, nil)
	return s.LastCode(phone)
}

// Register creates an account and returns its token. The clock moves past
// the resend interval so helpers can be chained.
func (s *Server) Register(phone, password string) string {
	s.T.Helper()
	code := s.SendCode("", "REGISTER", phone)
	var out struct {
		Register struct{ Token string }
	}
	s.MustDo("", RegisterMutation, map[string]any{"in": RegisterInput(phone, password, code)}, &out)
	s.Clock.Advance(61 * time.Second)
	return out.Register.Token
}

// RegisterMutation registers and returns the token.
const RegisterMutation = `mutation($in: RegisterInput!) { register(input: $in) { token user { id phone } session { id } } }`

// RegisterInput builds the register input with the current agreement versions.
func RegisterInput(phone, password, code string) map[string]any {
	return map[string]any{
		"phone": phone, "password": password, "passwordConfirm": password, "code": code,
		"serviceAgreementVersion": "2026-11-01", "privacyStatementVersion": "2026-11-01",
	}
}

func bearer(token string) string {
	if token == "" {
		return ""
	}
	return "Bearer " + token
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
