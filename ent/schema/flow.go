package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// entsqlCascade deletes children with their parent at the database level.
func entsqlCascade() schema.Annotation { return entsql.OnDelete(entsql.Cascade) }

// Flow is a contract being signed (签约任务): one or more PDFs, the parties
// and where they sign. Its status is the only stored state; the manual's
// seven lists (待办 草稿 已办 我发起的 抄送我的 已完成 已作废) are queries over
// flow and participant statuses.
type Flow struct{ ent.Schema }

// Mixin of the Flow.
func (Flow) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Flow.
func (Flow) Fields() []ent.Field {
	return []ent.Field{
		field.String("number").Unique().Immutable().NotEmpty().MaxLen(32).
			Comment("Human-readable unique task number (任务编号), e.g. QS20261127-7K4M9PXA"),
		field.String("name").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("NAME")).Comment("Task name (任务名称)"),
		field.Enum("scene").Values("general", "hr").Default("general"),
		field.Enum("status").Values("draft", "signing", "completed", "revoked", "declined", "expired").
			Default("draft").Annotations(entgql.OrderField("STATUS")),
		field.Bool("ordered").Default(true).Comment("Sequential signing by participant order; parallel when false"),
		field.Time("deadline").Optional().Nillable().Annotations(entgql.OrderField("DEADLINE")),
		field.Bytes("passcode_hash").Optional().Nillable().Sensitive().Annotations(entgql.Skip()),
		field.Int("initiator_id").Immutable(),
		field.String("initiator_name").Default("").MaxLen(64).
			Comment("How the parties see the initiator: the verified name, or the masked phone; refreshed when sent"),
		field.Int("enterprise_id").Optional().Nillable().Immutable().
			Comment("The enterprise space the flow was sent from; nil for the personal space"),
		field.Time("sent_at").Optional().Nillable().Annotations(entgql.OrderField("SENT_AT")),
		field.Time("finished_at").Optional().Nillable().Comment("When it reached a final status"),
		field.String("end_reason").Optional().MaxLen(500).Comment("Revocation or decline reason"),
		field.Time("initiator_hidden_at").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("The initiator deleted it from 已作废; the trail stays"),
	}
}

// Edges of the Flow.
func (Flow) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("initiator", User.Type).Field("initiator_id").Unique().Required().Immutable(),
		edge.To("documents", FlowDocument.Type).Annotations(entsqlCascade()),
		edge.To("participants", Participant.Type).Annotations(entsqlCascade()),
		edge.To("fields", SignField.Type).Annotations(entsqlCascade()),
	}
}

// Indexes of the Flow.
func (Flow) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("initiator_id", "status", "created_at"),
		index.Fields("status", "deadline"),
	}
}

// Policy of the Flow: the initiator and the parties see it.
func (Flow) Policy() ent.Policy { return rule.FlowPolicy(rule.FilterFlowVisible) }

// Annotations of the Flow.
func (Flow) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
