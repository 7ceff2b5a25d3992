package mail

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Outbox is the development provider: it keeps the last messages in memory
// and logs each one (recipients, subject, attachment names) instead of
// sending it.
type Outbox struct {
	log *slog.Logger
	max int

	mu   sync.Mutex
	sent []Sent
}

// Sent is a message an Outbox kept.
type Sent struct {
	Message
	At time.Time
}

// NewOutbox keeps up to max messages (100 when max <= 0).
func NewOutbox(max int, log *slog.Logger) *Outbox {
	if max <= 0 {
		max = 100
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{log: log, max: max}
}

// Send implements Provider. Like a real provider it refuses bad addresses.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	if err := m.check(); err != nil {
		return err
	}
	names := make([]string, len(m.Attachments))
	for i, a := range m.Attachments {
		names[i] = a.Name
	}
	o.log.InfoContext(ctx, "mail outbox (development, not sent)", "to", m.To, "subject", m.Subject, "attachments", names)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, Sent{Message: m, At: time.Now()})
	if len(o.sent) > o.max {
		o.sent = slices.Delete(o.sent, 0, len(o.sent)-o.max)
	}
	return nil
}

// To returns the kept messages to addr, oldest first.
func (o *Outbox) To(addr string) []Sent {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Sent
	for _, s := range o.sent {
		if slices.Contains(s.To, addr) {
			out = append(out, s)
		}
	}
	return out
}
