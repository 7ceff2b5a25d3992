package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxPayload is the largest NOTIFY payload Publish sends; PostgreSQL refuses
// 8000 bytes and more.
const MaxPayload = 7999

// DefaultChannel is the PostgreSQL notification channel events travel on.
const DefaultChannel = "signet_events"

// PostgresConfig configures a Postgres broker.
type PostgresConfig struct {
	// URL is the database to LISTEN on; the broker opens one dedicated
	// connection with it (never from the pool: a pooled connection would
	// lose its LISTEN when returned).
	URL string
	// DB is the pool NOTIFY goes through.
	DB *sql.DB
	// Channel defaults to DefaultChannel.
	Channel string
	// Buffer is each local subscriber's buffer (DefaultBuffer when 0).
	Buffer int
	// Logger may be nil.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between reconnection attempts
	// (100 ms and 5 s by default).
	MinBackoff, MaxBackoff time.Duration
}

// Postgres is the multi-node broker: Publish sends a NOTIFY with the event as
// a small JSON payload, and every node's listener (including the publisher's
// own) re-delivers it to its local subscribers.
type Postgres struct {
	cfg   PostgresConfig
	local *Local
	log   *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	ready   chan struct{} // closed while LISTEN is active
	connGen int           // successful connections so far
}

// NewPostgres starts a broker whose listener runs until Close. It returns at
// once; the listener connects (and reconnects) in the background. Use Ready
// to wait for the first LISTEN.
func NewPostgres(cfg PostgresConfig) (*Postgres, error) {
	if cfg.URL == "" || cfg.DB == nil {
		return nil, errors.New("events: postgres broker needs a URL and a pool")
	}
	if cfg.Channel == "" {
		cfg.Channel = DefaultChannel
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Postgres{cfg: cfg, local: NewLocal(cfg.Buffer, logger), log: logger,
		cancel: cancel, done: make(chan struct{}), ready: make(chan struct{})}
	go p.listen(ctx)
	return p, nil
}

// Publish sends ev to every node through pg_notify. It fails when the
// payload would reach PostgreSQL's 8000-byte limit (keep events to IDs).
func (p *Postgres) Publish(ctx context.Context, ev Event) error {
	payload, err := p.payload(ev)
	if err != nil {
		return err
	}
	if _, err := p.cfg.DB.ExecContext(ctx, `SELECT pg_notify($1, $2)`, p.cfg.Channel, payload); err != nil {
		p.log.Warn("events: publish failed", "topic", ev.Topic, "kind", ev.Kind, "err", err)
		return fmt.Errorf("events: notify: %w", err)
	}
	return nil
}

// PublishAll sends evs with one statement: a pg_notify per element of the
// payload array, in the array's order (see Broker).
func (p *Postgres) PublishAll(ctx context.Context, evs []Event) error {
	var first error
	payloads := make([]string, 0, len(evs))
	for _, ev := range evs {
		payload, err := p.payload(ev)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		payloads = append(payloads, payload)
	}
	switch len(payloads) {
	case 0:
		return first
	case 1:
		_, err := p.cfg.DB.ExecContext(ctx, `SELECT pg_notify($1, $2)`, p.cfg.Channel, payloads[0])
		if err != nil {
			p.log.Warn("events: publish failed", "events", 1, "err", err)
			return fmt.Errorf("events: notify: %w", err)
		}
		return first
	}
	if _, err := p.cfg.DB.ExecContext(ctx, `SELECT pg_notify($1, n.payload) FROM unnest($2::text[]) AS n(payload)`, p.cfg.Channel, payloads); err != nil {
		p.log.Warn("events: publish failed", "events", len(payloads), "err", err)
		return fmt.Errorf("events: notify: %w", err)
	}
	return first
}

// payload is ev as a NOTIFY payload, or the reason it cannot be sent.
func (p *Postgres) payload(ev Event) (string, error) {
	if err := ev.validate(); err != nil {
		p.log.Warn("events: publish refused", "err", err)
		return "", err
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("events: encode: %w", err)
	}
	if len(payload) > MaxPayload {
		err := fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrInvalid, len(payload), MaxPayload)
		p.log.Warn("events: publish refused", "err", err)
		return "", err
	}
	return string(payload), nil
}

// Subscribe registers a local subscriber (see Broker).
func (p *Postgres) Subscribe(ctx context.Context, topic string) (<-chan Event, func()) {
	return p.local.Subscribe(ctx, topic)
}

// Ready returns a channel closed once the listener is LISTENing (again).
func (p *Postgres) Ready() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// Local returns the broker delivering to this node's subscribers.
func (p *Postgres) Local() *Local { return p.local }

// Close stops the listener, closes its connection and ends every local
// subscription.
func (p *Postgres) Close() error {
	p.cancel()
	<-p.done
	return p.local.Close()
}

func (p *Postgres) listen(ctx context.Context) {
	defer close(p.done)
	backoff := p.cfg.MinBackoff
	for {
		listened, err := p.session(ctx)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		select {
		case <-p.ready:
			p.ready = make(chan struct{})
		default:
		}
		p.mu.Unlock()
		if listened {
			backoff = p.cfg.MinBackoff
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		p.log.Warn("events: listener lost its connection; reconnecting", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, p.cfg.MaxBackoff)
	}
}

// session connects, LISTENs and delivers notifications until the
// connection fails or ctx ends; it reports whether it got as far as LISTEN.
func (p *Postgres) session(ctx context.Context) (bool, error) {
	conn, err := pgx.Connect(ctx, p.cfg.URL)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.cfg.Channel}.Sanitize()); err != nil {
		return false, err
	}
	p.mu.Lock()
	p.connGen++
	reconnected := p.connGen > 1
	close(p.ready)
	p.mu.Unlock()
	if reconnected {
		// Whatever was published while we were away is lost: tell every
		// subscriber to re-read.
		p.local.broadcast(KindResync)
		p.log.Info("events: listener reconnected")
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		var ev Event
		if err := json.Unmarshal([]byte(n.Payload), &ev); err != nil || ev.validate() != nil {
			p.log.Warn("events: ignored a malformed notification", "payload", n.Payload)
			continue
		}
		p.local.deliver(ev.Topic, func(string) Event { return ev })
	}
}
