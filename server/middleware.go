package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"signet/accounts"
	"signet/viewer"
)

// requestID takes a sane incoming X-Request-ID or makes one, and echoes it.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		ctx := viewer.WithClient(r.Context(), viewer.Client{RequestID: id})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// clientInfo records the client IP and user agent. X-Forwarded-For is only
// believed when the direct peer is a trusted proxy; then the right-most
// address that is not itself a trusted proxy is the client.
func clientInfo(trusted []*net.IPNet) func(http.Handler) http.Handler {
	isTrusted := func(ip net.IP) bool {
		for _, n := range trusted {
			if n.Contains(ip) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			ip := net.ParseIP(host)
			if ip != nil && isTrusted(ip) {
				hops := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
				for i := len(hops) - 1; i >= 0; i-- {
					h := net.ParseIP(strings.TrimSpace(hops[i]))
					if h == nil {
						break
					}
					ip = h
					if !isTrusted(h) {
						break
					}
				}
			}
			c := viewer.ClientFrom(r.Context())
			if ip != nil {
				c.IP = ip.String()
			} else {
				c.IP = host
			}
			c.UserAgent = r.UserAgent()
			next.ServeHTTP(w, r.WithContext(viewer.WithClient(r.Context(), c)))
		})
	}
}

// statusWriter remembers the status code. It forwards Flush and Unwrap so
// SSE and websocket upgrades keep working.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog writes one structured line per request.
func accessLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw, ok := w.(*statusWriter)
			if !ok {
				sw = &statusWriter{ResponseWriter: w}
			}
			next.ServeHTTP(sw, r)
			c := viewer.ClientFrom(r.Context())
			level := slog.LevelInfo
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
				level = slog.LevelDebug
			}
			log.Log(r.Context(), level, "http request",
				"method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.bytes,
				"duration_ms", float64(time.Since(start).Microseconds())/1000,
				"ip", c.IP, "request_id", c.RequestID)
		})
	}
}

// recoverer turns a panic into a logged 500.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()),
						"request_id", viewer.ClientFrom(r.Context()).RequestID)
					http.Error(w, "系统繁忙，请稍后再试", http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// securityHeaders sets conservative defaults for every response.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		next.ServeHTTP(w, r)
	})
}

// authenticate puts the viewer of a valid bearer token into the context.
// A missing or invalid token leaves the request anonymous: operations that
// need a user refuse with UNAUTHENTICATED, and login still works with a stale
// token in the header.
func authenticate(acc *accounts.Service) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var v viewer.Viewer
			if token := bearer(r.Header.Get("Authorization")); token != "" {
				if got, err := acc.Authenticate(r.Context(), token); err == nil {
					v = got
				}
			}
			next.ServeHTTP(w, r.WithContext(viewer.NewContext(r.Context(), v)))
		})
	}
}

// bearer extracts the token of an "Authorization: Bearer <token>" value.
func bearer(h string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authenticateInit authenticates a websocket's connection_init payload,
// {"authorization": "Bearer <token>"}. No token: anonymous; a bad one: the
// connection is refused.
func authenticateInit(ctx context.Context, acc *accounts.Service, payload map[string]any) (context.Context, error) {
	var raw string
	for _, k := range []string{"authorization", "Authorization"} {
		if s, ok := payload[k].(string); ok {
			raw = s
			break
		}
	}
	if raw == "" {
		return ctx, nil
	}
	token := bearer(raw)
	if token == "" {
		token = raw
	}
	v, err := acc.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	return viewer.NewContext(ctx, v), nil
}
