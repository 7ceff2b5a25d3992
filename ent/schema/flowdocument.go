package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/pdftypes"
	"signet/ent/schema/rule"
)

// FlowDocument is one PDF of a flow (合同). The original is frozen when
// uploaded (normalised once, before any signature); every signature appends
// an incremental update and advances the revision.
type FlowDocument struct{ ent.Schema }

// Mixin of the FlowDocument.
func (FlowDocument) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the FlowDocument.
func (FlowDocument) Fields() []ent.Field {
	return []ent.Field{
		field.Int("flow_id").Immutable(),
		field.String("name").NotEmpty().MaxLen(100).Comment("Contract name (合同名称)"),
		field.String("contract_number").Optional().MaxLen(64).Comment("Contract number (合同编号)"),
		field.Int("position").Default(0).NonNegative(),
		field.String("original_key").NotEmpty().Immutable().Annotations(entgql.Skip()).Comment("Blob key of the frozen original"),
		field.String("original_sha256").NotEmpty().Immutable(),
		field.Int64("original_size").Immutable(),
		field.JSON("pages", []pdftypes.PageSize{}).Immutable(),
		field.String("current_key").NotEmpty().Annotations(entgql.Skip()).Comment("Blob key of the latest revision"),
		field.String("current_sha256").NotEmpty(),
		field.Int("revision").Default(0).NonNegative().Comment("Number of signatures applied"),
	}
}

// Edges of the FlowDocument.
func (FlowDocument) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("flow", Flow.Type).Ref("documents").Field("flow_id").Unique().Required().Immutable(),
	}
}

// Indexes of the FlowDocument.
func (FlowDocument) Indexes() []ent.Index {
	return []ent.Index{index.Fields("flow_id", "position")}
}

// Policy of the FlowDocument: visible with its flow.
func (FlowDocument) Policy() ent.Policy { return rule.FlowPolicy(rule.FilterFlowChild) }
