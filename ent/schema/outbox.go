package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// OutboxMessage is an SMS kept by the development outbox provider instead of
// being sent; GET /dev/outbox shows them in development mode.
type OutboxMessage struct{ ent.Schema }

// Fields of the OutboxMessage.
func (OutboxMessage) Fields() []ent.Field {
	return []ent.Field{
		field.String("phone").MaxLen(32).Immutable(),
		field.String("template").MaxLen(64).Immutable(),
		field.JSON("params", map[string]string{}).Immutable(),
		field.Text("text").Immutable(),
		field.Time("created_at").Immutable(),
	}
}

// Indexes of the OutboxMessage.
func (OutboxMessage) Indexes() []ent.Index {
	return []ent.Index{index.Fields("phone", "created_at")}
}

// Policy of the OutboxMessage.
func (OutboxMessage) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the OutboxMessage.
func (OutboxMessage) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
