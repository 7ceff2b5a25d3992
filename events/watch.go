package events

import (
	"context"
	"time"
)

// Watch keeps a node's copies of some rows right while it holds them: it
// subscribes to topic and hands each event to changed, until ctx ends.
// listening says whether the node may keep copies at all, and each call
// means its copies are to be dropped: true once it listens (on PostgreSQL
// when the listener is connected — a change published before would not
// reach it) and again when the broker says events may have been missed
// (KindResync); false when the subscription ends (the subscriber fell
// behind, or the broker closed) and when Watch returns. It subscribes
// again a second after a subscription ended.
func Watch(ctx context.Context, b Broker, topic string, listening func(bool), changed func(Event)) {
	defer listening(false)
	for ctx.Err() == nil {
		ch, cancel := b.Subscribe(ctx, topic)
		if r, ok := b.(interface{ Ready() <-chan struct{} }); ok {
			select {
			case <-r.Ready():
			case <-ctx.Done():
				cancel()
				return
			}
		}
		listening(true)
		for ev := range ch {
			if ev.Kind == KindResync {
				listening(true)
				continue
			}
			changed(ev)
		}
		listening(false)
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
