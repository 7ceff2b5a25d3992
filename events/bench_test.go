package events_test

import (
	"context"
	"testing"

	"signet/events"
	"signet/internal/dbtest"
)

// BenchmarkPublishReceive measures the latency from Publish to the
// subscriber's receive, one event in flight at a time: in process, and
// through PostgreSQL NOTIFY from one broker to a subscriber on another.
func BenchmarkPublishReceive(b *testing.B) {
	ctx := context.Background()
	run := func(b *testing.B, pub, sub events.Broker) {
		ch, cancel := sub.Subscribe(ctx, "flow:1")
		defer cancel()
		ev := events.Event{Topic: "flow:1", Kind: "participant.signed", ID: 1}
		for b.Loop() {
			if err := pub.Publish(ctx, ev); err != nil {
				b.Fatal(err)
			}
			recv(b, ch)
		}
	}
	b.Run("local", func(b *testing.B) {
		l := events.NewLocal(0, nil)
		run(b, l, l)
	})
	b.Run("postgres", func(b *testing.B) {
		be := dbtest.Postgres(b)
		db := dbtest.Open(b, be)
		run(b, newPostgres(b, db, be.DatabaseURL), newPostgres(b, db, be.DatabaseURL))
	})
}

// BenchmarkFanOut measures one publish to 1000 local subscribers of a topic.
func BenchmarkFanOut(b *testing.B) {
	ctx := context.Background()
	l := events.NewLocal(0, nil)
	var chans []<-chan events.Event
	for i := 0; i < 1000; i++ {
		ch, cancel := l.Subscribe(ctx, "flow:1")
		defer cancel()
		chans = append(chans, ch)
	}
	ev := events.Event{Topic: "flow:1", Kind: "k"}
	for b.Loop() {
		l.Publish(ctx, ev)
		for _, ch := range chans {
			<-ch
		}
	}
}
