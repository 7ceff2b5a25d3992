package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
)

// DefaultBuffer is how many undelivered events a subscriber may hold before
// it is dropped.
const DefaultBuffer = 64

// Local is the in-process broker. Publishing never blocks: each subscriber
// has a buffered channel, and one whose buffer is full is dropped (its
// channel closed). It starts no goroutines: a subscription ends through
// context.AfterFunc.
type Local struct {
	buffer int
	logger *slog.Logger

	mu     sync.RWMutex
	subs   map[string]map[*subscription]struct{}
	closed bool

	dropped atomic.Int64
}

type subscription struct {
	topic string
	ch    chan Event
	stop  func() bool // stops the context.AfterFunc
}

// NewLocal returns an in-process broker whose subscribers may fall buffer
// events behind (DefaultBuffer when buffer <= 0). logger may be nil.
func NewLocal(buffer int, logger *slog.Logger) *Local {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Local{buffer: buffer, logger: logger, subs: map[string]map[*subscription]struct{}{}}
}

// Publish hands ev to the topic's subscribers without waiting for any.
func (l *Local) Publish(_ context.Context, ev Event) error {
	if err := ev.validate(); err != nil {
		l.logger.Warn("events: publish refused", "err", err)
		return err
	}
	l.deliver(ev.Topic, func(string) Event { return ev })
	return nil
}

// PublishAll publishes evs in order (see Broker).
func (l *Local) PublishAll(ctx context.Context, evs []Event) error {
	var first error
	for _, ev := range evs {
		if err := l.Publish(ctx, ev); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// broadcast sends every subscriber an event made for its topic.
func (l *Local) broadcast(kind string) {
	l.mu.RLock()
	topics := make([]string, 0, len(l.subs))
	for t := range l.subs {
		topics = append(topics, t)
	}
	l.mu.RUnlock()
	for _, t := range topics {
		l.deliver(t, func(topic string) Event { return Event{Topic: topic, Kind: kind} })
	}
}

func (l *Local) deliver(topic string, make func(topic string) Event) {
	var slow []*subscription
	l.mu.RLock()
	for s := range l.subs[topic] {
		select {
		case s.ch <- make(topic):
		default:
			slow = append(slow, s)
		}
	}
	l.mu.RUnlock()
	for _, s := range slow {
		if l.remove(s) {
			l.dropped.Add(1)
			l.logger.Warn("events: dropped a slow subscriber", "topic", topic, "buffer", l.buffer)
		}
	}
}

// Subscribe registers a subscriber to topic until ctx ends or cancel is
// called.
func (l *Local) Subscribe(ctx context.Context, topic string) (<-chan Event, func()) {
	s := &subscription{topic: topic, ch: make(chan Event, l.buffer)}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	m := l.subs[topic]
	if m == nil {
		m = map[*subscription]struct{}{}
		l.subs[topic] = m
	}
	m[s] = struct{}{}
	// Set stop under the lock: remove reads it under the same lock.
	s.stop = context.AfterFunc(ctx, func() { l.remove(s) })
	l.mu.Unlock()
	return s.ch, func() { l.remove(s) }
}

// remove ends a subscription once; it reports whether it did.
func (l *Local) remove(s *subscription) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.subs[s.topic]
	if _, ok := m[s]; !ok {
		return false
	}
	delete(m, s)
	if len(m) == 0 {
		delete(l.subs, s.topic)
	}
	s.stop()
	close(s.ch)
	return true
}

// Subscribers returns how many subscriptions are open.
func (l *Local) Subscribers() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, m := range l.subs {
		n += len(m)
	}
	return n
}

// Dropped returns how many subscribers were dropped for falling behind.
func (l *Local) Dropped() int64 { return l.dropped.Load() }

// Close ends every subscription; later subscriptions are closed at once.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for topic, m := range l.subs {
		for s := range m {
			s.stop()
			close(s.ch)
		}
		delete(l.subs, topic)
	}
	return nil
}
