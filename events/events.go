// Package events is Signet's broker for live updates: a domain package
// publishes small events (a topic, a kind, an ID) after its transaction
// commits, and subscriptions (GraphQL over websocket or SSE) receive them and
// re-read whatever they must show. Events carry IDs only, never data, so a
// subscriber always shows the committed state and no event can leak what its
// subscriber may not read.
//
// One interface, two implementations: Local delivers within the process (the
// single-node default, used with SQLite) and Postgres carries events between
// nodes over PostgreSQL LISTEN/NOTIFY, each node re-delivering to its own
// subscribers through a Local. Delivery is best effort: a subscriber that
// does not keep up is dropped (its channel closed) rather than slowing
// publishers, and a node that loses its listening connection tells its
// subscribers to re-read (KindResync) once it is back. A subscriber that sees
// its channel close re-subscribes and re-reads.
//
// Publish after commit with AfterCommit, so a rolled-back change is never
// announced.
package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"signet/ent"
)

// Event is one notification: something of kind Kind happened to the object
// ID within Topic. It is encoded as a few bytes of JSON on PostgreSQL.
type Event struct {
	// Topic is what subscribers subscribe to: FlowTopic(id), UserTopic(id).
	Topic string `json:"t"`
	// Kind says what happened ("participant.signed", "flow.completed"…);
	// the domain package that publishes defines its kinds.
	Kind string `json:"k"`
	// ID is the object concerned (a flow, participant or document id), or 0.
	ID int `json:"id,omitempty"`
}

// KindResync tells a subscriber that events may have been missed (the node
// lost its connection to the database for a while): re-read everything. Its
// Topic is the subscriber's topic.
const KindResync = "resync"

// MaxTopic bounds a topic's length.
const MaxTopic = 200

// FlowTopic is the topic of one flow's events (viewed, signed, completed…).
func FlowTopic(flowID int) string { return "flow:" + strconv.Itoa(flowID) }

// UserTopic is the topic of changes to one user's lists (e.g. the 待办 count).
func UserTopic(userID int) string { return "user:" + strconv.Itoa(userID) }

// Broker publishes events and hands them to subscribers.
type Broker interface {
	// Publish sends ev to the subscribers of ev.Topic, on every node. It
	// never waits for a subscriber. Errors: an invalid event, or (on
	// PostgreSQL) a failure to reach the database.
	Publish(ctx context.Context, ev Event) error
	// PublishAll publishes evs in order, as Publish would one by one, but
	// on PostgreSQL in one statement. An invalid event is refused and the
	// others are published; the error is the first refusal or failure.
	PublishAll(ctx context.Context, evs []Event) error
	// Subscribe returns a channel of topic's events and a function that
	// ends the subscription. The channel is closed when ctx ends, when
	// cancel is called, when the broker closes, or when the subscriber falls
	// too far behind. cancel may be called more than once.
	Subscribe(ctx context.Context, topic string) (<-chan Event, func())
}

// ErrInvalid is returned for an event without a topic or kind, or with a
// topic that is too long.
var ErrInvalid = errors.New("events: invalid event")

func (ev Event) validate() error {
	if ev.Topic == "" || ev.Kind == "" || len(ev.Topic) > MaxTopic || len(ev.Kind) > MaxTopic {
		return fmt.Errorf("%w: %+v", ErrInvalid, ev)
	}
	return nil
}

// AfterCommit publishes evs through b once tx has committed, and never when
// it rolls back. A publish error is logged by the broker and otherwise
// ignored: the change is committed, and a live update is best effort.
//
// Why after commit rather than pg_notify inside the transaction: NOTIFY in a
// transaction is also delivered at COMMIT, but it takes a database-wide lock
// at commit time that serialises every committing transaction that notified,
// and it works on PostgreSQL only. Publishing from an ent commit hook keeps
// one path for both databases and keeps commits independent; the price is
// that a crash between COMMIT and the publish loses the event, which
// subscribers tolerate (they re-read on resync and on reconnect).
func AfterCommit(tx *ent.Tx, b Broker, evs ...Event) {
	OnCommitted(tx, func(ctx context.Context) {
		pctx := context.WithoutCancel(ctx)
		for _, ev := range evs {
			_ = b.Publish(pctx, ev)
		}
	})
}

// OnCommitted calls f once tx has committed (with the commit's context),
// never when it rolls back.
func OnCommitted(tx *ent.Tx, f func(ctx context.Context)) {
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			f(ctx)
			return nil
		})
	})
}
