package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// SignField is a place on a page where a participant signs: a seal, a
// signature or a date, in PDF points from the page's lower-left corner.
type SignField struct{ ent.Schema }

// Fields of the SignField.
func (SignField) Fields() []ent.Field {
	return []ent.Field{
		field.Int("flow_id").Immutable(),
		field.Int("document_id"),
		field.Int("participant_id").Optional().Nillable(),
		field.Enum("kind").Values("enterprise_seal", "personal_seal", "handwriting", "date"),
		field.Int("page").Positive(),
		field.Float("x").Min(0),
		field.Float("y").Min(0),
		field.Float("width").Positive(),
		field.Float("height").Positive(),
		field.Bool("placed_by_signer").Default(false).Comment("Added by the signer where the initiator set no position"),
		field.Int("applied_revision").Optional().Nillable().Comment("Document revision that carries this field's signature"),
	}
}

// Edges of the SignField.
func (SignField) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("flow", Flow.Type).Ref("fields").Field("flow_id").Unique().Required().Immutable(),
		edge.To("document", FlowDocument.Type).Field("document_id").Unique().Required(),
		edge.From("participant", Participant.Type).Ref("fields").Field("participant_id").Unique(),
	}
}

// Indexes of the SignField: a signer's fields are read by participant when
// signing, a flow's by flow (drafts, progress), a document's when it goes.
func (SignField) Indexes() []ent.Index {
	return []ent.Index{index.Fields("participant_id"), index.Fields("flow_id"), index.Fields("document_id")}
}

// Policy of the SignField: visible with its flow.
func (SignField) Policy() ent.Policy { return rule.FlowPolicy(rule.FilterFlowChild) }
