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

// SessionSpace records which space a session works in (PRODUCT.md ENT-6):
// no row or no enterprise is the personal space; otherwise the enterprise
// whose console, seals and members the session's enterprise queries see.
// It is part of the session: another device of the same user keeps its own.
type SessionSpace struct{ ent.Schema }

// Mixin of the SessionSpace.
func (SessionSpace) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the SessionSpace.
func (SessionSpace) Fields() []ent.Field {
	return []ent.Field{
		field.Int("session_id").Unique().Immutable(),
		field.Int("enterprise_id").Optional().Nillable(),
	}
}

// Edges of the SessionSpace.
func (SessionSpace) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("session", Session.Type).Field("session_id").Unique().Required().Immutable(),
		edge.To("enterprise", Enterprise.Type).Field("enterprise_id").Unique(),
	}
}

// Indexes of the SessionSpace: one row per session (the edge field alone is
// not unique in the database).
func (SessionSpace) Indexes() []ent.Index {
	return []ent.Index{index.Fields("session_id").Unique()}
}

// Policy of the SessionSpace: the session's owner.
func (SessionSpace) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterSessionSpace) }

// Annotations of the SessionSpace: not part of the GraphQL graph (the
// activeSpace field shows it).
func (SessionSpace) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
