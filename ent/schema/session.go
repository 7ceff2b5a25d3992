package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// Session is a logged-in device. The bearer token itself is never stored:
// only its SHA-256, so a database leak does not leak sessions.
type Session struct{ ent.Schema }

// Mixin of the Session.
func (Session) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Bytes("token_hash").Unique().Sensitive().Immutable().
			Annotations(entgql.Skip()),
		field.Enum("method").Values("sms", "password", "certificate").Immutable(),
		field.String("ip").Optional().MaxLen(64).Immutable(),
		field.String("user_agent").Optional().MaxLen(512).Immutable(),
		field.Time("last_seen_at"),
		field.Time("expires_at"),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Edges of the Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("sessions").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "revoked_at")}
}

// Policy of the Session: a user sees only their own sessions.
func (Session) Policy() ent.Policy { return rule.OwnerPolicy(rule.FilterSessionOwner) }

// Annotations of the Session.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
