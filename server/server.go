// Package server is all of Signet's HTTP wiring: the chi router and its
// middleware order, the GraphQL handler with hand-picked transports (POST,
// websocket with graphql-transport-ws, SSE), the error presenter, health and
// metrics endpoints, development-only pages, and the embedded H5 app.
// Handlers translate HTTP to domain calls and back; rules live elsewhere.
package server

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"signet/accounts"
	"signet/sms"
)

// Config holds what the HTTP layer needs. Everything is passed in; the
// server keeps no global state.
type Config struct {
	// Dev enables the playground, introspection and /dev/ pages.
	Dev bool
	// BaseURL is the public URL; its host is an allowed websocket origin.
	BaseURL string
	// AllowedOrigins are extra websocket origin patterns (host or host:port,
	// path.Match syntax).
	AllowedOrigins []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
	Logger         *slog.Logger
	Schema         graphql.ExecutableSchema
	Accounts       *accounts.Service
	// Ready reports whether dependencies (the database) are usable.
	Ready func(context.Context) error
	// Outbox serves /dev/outbox in development; may be nil.
	Outbox sms.OutboxStore
	// Registry collects metrics; /metrics serves it.
	Registry *prometheus.Registry
	// Trust serves the CA publication points (/pki/…) and the TSA (/tsa).
	Trust http.Handler
	// Documents backs the file upload and download endpoints; may be nil.
	Documents Documents
	// CertDocuments backs the upload and download of enterprise
	// certification documents; may be nil.
	CertDocuments CertDocuments
	// UKeyHelperDir holds the builds of the UKey helper offered at
	// /downloads/signet-ukey (make ukey); the page says so when it is empty.
	UKeyHelperDir string
	// App is the built H5/PC client (mobile/dist).
	App fs.FS
	// Callbacks receives third-party notifications (face liveness, payment)
	// under /callbacks/; may be nil.
	Callbacks http.Handler
	// Sandbox serves the provider sandboxes' pages under /sandbox/ in
	// development only; may be nil.
	Sandbox http.Handler
	// Pairing draws the QR codes of handwriting pairings (USR-1); may be nil.
	Pairing PairingQR
}

// New returns the root handler.
func New(cfg Config) http.Handler {
	m := newMetrics(cfg.Registry)
	r := chi.NewRouter()
	// Order matters: the request ID and client address first so every later
	// log line and record carries them; recovery inside logging so a panic is
	// logged with its request; authentication last, just before routing.
	r.Use(requestID)
	r.Use(clientInfo(cfg.TrustedProxies))
	r.Use(accessLog(cfg.Logger))
	r.Use(recoverer(cfg.Logger))
	r.Use(m.middleware)
	r.Use(securityHeaders)
	r.Use(authenticate(cfg.Accounts))

	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/readyz", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if cfg.Ready != nil {
			if err := cfg.Ready(ctx); err != nil {
				cfg.Logger.WarnContext(ctx, "not ready", "err", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	r.Handle("/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))

	if cfg.Trust != nil {
		r.Handle("/pki/*", cfg.Trust)
		r.Handle("/tsa", cfg.Trust)
	}

	if cfg.Callbacks != nil {
		r.Handle("/callbacks/*", cfg.Callbacks)
	}
	if cfg.Dev && cfg.Sandbox != nil {
		r.Handle("/sandbox/*", cfg.Sandbox)
	}

	if cfg.Documents != nil {
		fileRoutes(r, cfg.Documents, cfg.Logger)
	}
	if cfg.CertDocuments != nil {
		certDocumentRoutes(r, cfg.CertDocuments, cfg.Logger)
	}

	ukeyRoutes(r, cfg.UKeyHelperDir, cfg.Logger)
	if cfg.Pairing != nil {
		pairingRoutes(r, cfg.Pairing, cfg.Logger)
	}

	gql := newGraphQL(cfg, m)
	r.Handle("/graphql", gql)
	if cfg.Dev {
		r.Handle("/playground", playgroundHandler())
		if cfg.Outbox != nil {
			r.Handle("/dev/outbox", sms.OutboxHandler(cfg.Outbox))
		}
	}
	r.NotFound(appHandler(cfg.App))
	return r
}
