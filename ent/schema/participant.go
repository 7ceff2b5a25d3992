package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// Participant is a party of a flow: a signer (a person by name + phone, or an
// enterprise with its handler) or a CC recipient. Signers sign in order when
// the flow is ordered (equal orders sign in parallel).
type Participant struct{ ent.Schema }

// Mixin of the Participant.
func (Participant) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Participant.
func (Participant) Fields() []ent.Field {
	return []ent.Field{
		field.Int("flow_id").Immutable(),
		field.Enum("role").Values("signer", "cc").Default("signer"),
		field.Enum("kind").Values("person", "enterprise").Default("person"),
		field.Int("sign_order").Default(1).Positive(),
		field.String("name").NotEmpty().MaxLen(64).Comment("The person, or the enterprise's handler (经办人)"),
		field.String("phone").MaxLen(11).Comment("Mainland mobile of the person or handler"),
		field.String("email").Optional().MaxLen(128),
		field.String("enterprise_name").Optional().MaxLen(128),
		field.Int("enterprise_id").Optional().Nillable(),
		field.Int("user_id").Optional().Nillable().Comment("Bound once the phone's owner is known"),
		field.Enum("status").Values("waiting", "pending", "signed", "declined").Default("waiting"),
		field.Time("viewed_at").Optional().Nillable(),
		field.Time("signed_at").Optional().Nillable(),
		field.Time("declined_at").Optional().Nillable(),
		field.String("decline_reason").Optional().MaxLen(500),
		field.Time("last_reminded_at").Optional().Nillable(),
		field.Time("passcode_verified_at").Optional().Nillable().Annotations(entgql.Skip()),
		field.Int("passcode_failures").Default(0).NonNegative().Annotations(entgql.Skip()),
		field.Time("hidden_at").Optional().Nillable().Annotations(entgql.Skip()).
			Comment("The participant deleted it from 已作废; the trail stays"),
	}
}

// Edges of the Participant.
func (Participant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("flow", Flow.Type).Ref("participants").Field("flow_id").Unique().Required().Immutable(),
		edge.To("user", User.Type).Field("user_id").Unique(),
		edge.To("fields", SignField.Type),
	}
}

// Indexes of the Participant.
func (Participant) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "status"),
		// Unbound rows only (a party without an account yet, found by the
		// phone the lists match, flows.mine): a bound party's signature
		// changes its status without touching this index.
		index.Fields("phone", "status").Annotations(entsql.IndexWhere("user_id IS NULL")).
			StorageKey("participant_unbound_phone_status"),
		index.Fields("flow_id", "sign_order"),
	}
}

// Policy of the Participant: visible with its flow.
func (Participant) Policy() ent.Policy { return rule.FlowPolicy(rule.FilterFlowChild) }
