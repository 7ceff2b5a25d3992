package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"signet/ent"
	"signet/ent/privacy"
	"signet/errs"
	"signet/server/gqlws"
	"signet/viewer"
)

// maxGraphQLBody bounds a GraphQL request body; files go through /files.
const maxGraphQLBody = 1 << 20

// newGraphQL builds the /graphql handler with explicit transports.
func newGraphQL(cfg Config, m *metrics) http.Handler {
	srv := handler.New(cfg.Schema)

	origins := []string{}
	if u, err := url.Parse(cfg.BaseURL); err == nil && u.Host != "" {
		origins = append(origins, u.Host)
	}
	origins = append(origins, cfg.AllowedOrigins...)
	// graphql-transport-ws (what the H5 app's graphql-ws speaks) through our
	// lean transport (server/gqlws: two goroutines and a few KB per
	// subscribed connection); the legacy graphql-ws protocol, or an upgrade
	// naming no subprotocol, still through gqlgen's. Both authenticate
	// connection_init the same way and check the same origins.
	ws := &gqlws.Transport{
		AcceptOptions: websocket.AcceptOptions{OriginPatterns: origins},
		InitTimeout:   10 * time.Second,
		PingInterval:  20 * time.Second,
		// A connection carries only what our code reads from a context —
		// the client (address, request ID) and the viewer the middleware
		// found, which connection_init may replace — not the request's
		// whole chain, which gqlgen walks for each field of each event.
		ConnContext: func(r *http.Request) context.Context {
			ctx := viewer.WithClient(context.Background(), viewer.ClientFrom(r.Context()))
			return viewer.NewContext(ctx, viewer.FromContext(r.Context()))
		},
		InitFunc: func(ctx context.Context, p map[string]any) (context.Context, error) {
			ctx2, err := authenticateInit(ctx, cfg.Accounts, p)
			if err != nil && errs.CodeOf(err) == errs.Internal {
				// Not the client's fault: 1013 Try Again Later makes
				// graphql-ws retry, where 4403 would end its session.
				cfg.Logger.ErrorContext(ctx, "websocket connection_init", "err", err,
					"request_id", viewer.ClientFrom(ctx).RequestID)
				return nil, &gqlws.CloseError{Code: 1013, Reason: "Try Again Later", Err: err}
			}
			return ctx2, err
		},
		Logger: cfg.Logger,
	}
	srv.AddTransport(ws)
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: "signet", Name: "graphql_ws_shared_frames_total",
		Help: "Subscription frames sent from a response another subscriber's execution made (a broadcast's value executed once per operation).",
	}, func() float64 { return float64(ws.SharedFrames()) }))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 15 * time.Second,
		PingPongInterval:      20 * time.Second,
		InitTimeout:           10 * time.Second,
		Implementation: transport.CoderWebsocketImplementation{
			AcceptOptions: websocket.AcceptOptions{OriginPatterns: origins},
		},
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			ctx, err := authenticateInit(ctx, cfg.Accounts, p)
			if err != nil {
				return nil, nil, fmt.Errorf("%s", errs.MessageOf(err))
			}
			return ctx, nil, nil
		},
		ErrorFunc: func(ctx context.Context, err error) {
			cfg.Logger.DebugContext(ctx, "websocket closed", "err", err)
		},
	})
	srv.AddTransport(transport.SSE{})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.POST{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.FixedComplexityLimit(500))
	if cfg.Dev {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	// Lets a broadcast's subscribers share one execution where it is safe
	// (server/gqlws/share.go).
	srv.Use(gqlws.ShareGuard{})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		name := op.OperationName
		if name == "" {
			name = "anonymous"
		}
		kind := "query"
		if op.Operation != nil {
			kind = string(op.Operation.Operation)
		}
		m.graphqlOps.WithLabelValues(kind).Inc()
		return next(ctx)
	})
	srv.SetErrorPresenter(func(ctx context.Context, err error) *gqlerror.Error {
		return presentError(ctx, cfg, err)
	})
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		cfg.Logger.ErrorContext(ctx, "graphql panic", "panic", fmt.Sprint(v), "stack", string(debug.Stack()),
			"request_id", viewer.ClientFrom(ctx).RequestID)
		return errs.New(errs.Internal, "")
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if r.ContentLength > maxGraphQLBody {
				writeJSONError(w, http.StatusRequestEntityTooLarge, errs.Invalid, "请求内容过大")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxGraphQLBody)
		}
		srv.ServeHTTP(w, r)
	})
}

// presentError maps any resolver error to a gqlerror with extensions.code
// and a Chinese message. Internal details are logged, never returned.
func presentError(ctx context.Context, cfg Config, err error) *gqlerror.Error {
	gerr := graphql.DefaultErrorPresenter(ctx, err)
	// Errors gqlgen made itself (parse, validation) already carry a code.
	var ge *gqlerror.Error
	if errors.As(err, &ge) && ge.Err == nil && ge.Extensions["code"] != nil {
		return gerr
	}
	cause := err
	if ge != nil && ge.Err != nil {
		cause = ge.Err
	}
	switch {
	case errs.As(cause) != nil:
	case errors.Is(cause, privacy.Deny):
		cause = errs.Wrap(cause, errs.Forbidden, "")
	case ent.IsNotFound(cause):
		cause = errs.Wrap(cause, errs.NotFound, "")
	case ent.IsValidationError(cause):
		cause = errs.Wrap(cause, errs.Invalid, "")
	case errors.Is(cause, context.Canceled), errors.Is(cause, context.DeadlineExceeded):
		cause = errs.Wrap(cause, errs.Internal, "请求已取消或超时，请重试")
	}
	code := errs.CodeOf(cause)
	if code == errs.Internal {
		cfg.Logger.ErrorContext(ctx, "internal error", "err", cause,
			"request_id", viewer.ClientFrom(ctx).RequestID, "path", gerr.Path.String())
	}
	gerr.Message = errs.MessageOf(cause)
	if e := errs.As(cause); e != nil && e.Code == errs.Internal && e.Message != "" {
		gerr.Message = e.Message
	}
	if gerr.Extensions == nil {
		gerr.Extensions = map[string]any{}
	}
	gerr.Extensions["code"] = string(code)
	if e := errs.As(cause); e != nil && e.Field != "" {
		gerr.Extensions["field"] = e.Field
	}
	if id := viewer.ClientFrom(ctx).RequestID; id != "" && code == errs.Internal {
		gerr.Extensions["requestId"] = id
	}
	return gerr
}

func playgroundHandler() http.Handler {
	return playground.Handler("Signet GraphQL", "/graphql")
}

// writeJSONError answers a plain HTTP request with a GraphQL-shaped error.
func writeJSONError(w http.ResponseWriter, status int, code errs.Code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": message, "extensions": map[string]any{"code": string(code)}}},
	})
}
