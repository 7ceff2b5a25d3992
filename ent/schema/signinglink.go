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

// SigningLink is the short code of an SMS link (/s/{code}) that opens the H5
// signing page for one participant. The link alone grants nothing: the
// participant proves the phone with a code first.
type SigningLink struct{ ent.Schema }

// Fields of the SigningLink.
func (SigningLink) Fields() []ent.Field {
	return []ent.Field{
		field.String("code").Unique().Immutable().NotEmpty().MaxLen(16),
		field.Int("participant_id").Immutable(),
		field.Time("created_at").Immutable(),
		field.Time("expires_at").Optional().Nillable(),
	}
}

// Edges of the SigningLink.
func (SigningLink) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("participant", Participant.Type).Field("participant_id").Unique().Required().Immutable(),
	}
}

// Indexes of the SigningLink: a participant's link is looked up when a
// notification texts it.
func (SigningLink) Indexes() []ent.Index { return []ent.Index{index.Fields("participant_id")} }

// Policy of the SigningLink.
func (SigningLink) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the SigningLink.
func (SigningLink) Annotations() []schema.Annotation { return []schema.Annotation{entgql.Skip()} }
