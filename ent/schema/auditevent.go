package schema

import (
	"context"
	"errors"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// AuditEvent is one entry of an append-only, hash-chained trail (轨迹).
// Events belong to a chain (e.g. "flow:123"), are numbered 1, 2, 3… within
// it, and each commits to its own fields and to the previous event's hash, so
// package audit can tell an edited, deleted or reordered row. Rows are
// written only by audit.Append; no one — not even the system viewer — can
// update or delete them through ent (a hook refuses it, independently of the
// privacy policy, which privacy.DecisionContext could bypass).
type AuditEvent struct{ ent.Schema }

// Fields of the AuditEvent. Every field is immutable; the hash covers all of
// them except the row id (see audit.Hash).
func (AuditEvent) Fields() []ent.Field {
	return []ent.Field{
		field.String("chain").NotEmpty().MaxLen(128).Immutable(),
		field.Int64("seq").Positive().Immutable(),
		field.Time("created_at").Immutable(),
		field.String("actor_type").NotEmpty().MaxLen(32).Immutable(),
		field.Int("actor_id").Default(0).Immutable(),
		field.String("actor_name").Default("").MaxLen(128).Immutable(),
		field.String("action").NotEmpty().MaxLen(64).Immutable(),
		field.String("subject_type").Default("").MaxLen(64).Immutable(),
		field.Int("subject_id").Default(0).Immutable(),
		// payload is the exact JSON text that was hashed; a text column (not
		// jsonb) so the database never re-encodes it.
		field.Text("payload").Default("{}").Immutable(),
		field.String("ip").Default("").MaxLen(64).Immutable(),
		field.String("user_agent").Default("").MaxLen(512).Immutable(),
		field.String("request_id").Default("").MaxLen(128).Immutable(),
		field.String("prev_hash").MinLen(64).MaxLen(64).Immutable(),
		field.String("hash").MinLen(64).MaxLen(64).Immutable(),
	}
}

// Indexes of the AuditEvent: the trails are read by chain. (An index on
// the subject, which no query used, cost every event a write; it is
// dropped by database.Migrate.)
func (AuditEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("chain", "seq").Unique(),
	}
}

// Hooks of the AuditEvent: refuse every update and delete.
func (AuditEvent) Hooks() []ent.Hook {
	return []ent.Hook{refuseChanges("audit events are append-only")}
}

// Policy of the AuditEvent: only the system writes (audit.Append) and reads;
// domain packages decide who may see a trail and read it as the system.
func (AuditEvent) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the AuditEvent.
func (AuditEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}

// refuseChanges returns a hook that fails every update and delete with msg.
func refuseChanges(msg string, ops ...ent.Op) ent.Hook {
	refused := ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne
	if len(ops) > 0 {
		refused = 0
		for _, op := range ops {
			refused |= op
		}
	}
	err := errors.New(msg)
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if m.Op().Is(refused) {
				return nil, err
			}
			return next.Mutate(ctx, m)
		})
	}
}
