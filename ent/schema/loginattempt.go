package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// LoginAttempt records a failed login so repeated failures can be throttled
// per account and per IP on every node.
type LoginAttempt struct{ ent.Schema }

// Fields of the LoginAttempt.
func (LoginAttempt) Fields() []ent.Field {
	return []ent.Field{
		field.String("phone").MaxLen(32).Immutable(),
		field.String("ip").MaxLen(64).Immutable(),
		field.String("method").MaxLen(16).Immutable(),
		field.Time("created_at").Immutable(),
	}
}

// Indexes of the LoginAttempt.
func (LoginAttempt) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("phone", "created_at"),
		index.Fields("ip", "created_at"),
	}
}

// Policy of the LoginAttempt.
func (LoginAttempt) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the LoginAttempt.
func (LoginAttempt) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
