package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"signet/ent/schema/rule"
)

// AgreementAcceptance records that a user accepted a version of a legal
// document (服务协议, 隐私声明), when and from where. Rows are never updated.
type AgreementAcceptance struct{ ent.Schema }

// Fields of the AgreementAcceptance.
func (AgreementAcceptance) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Enum("document").Values("service_agreement", "privacy_statement").Immutable(),
		field.String("version").NotEmpty().MaxLen(32).Immutable(),
		field.Time("accepted_at").Immutable(),
		field.String("ip").Optional().MaxLen(64).Immutable(),
		field.String("user_agent").Optional().MaxLen(512).Immutable(),
	}
}

// Edges of the AgreementAcceptance.
func (AgreementAcceptance) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("agreements").Field("user_id").Unique().Required().Immutable(),
	}
}

// Policy of the AgreementAcceptance.
func (AgreementAcceptance) Policy() ent.Policy {
	return rule.OwnerPolicy(rule.FilterAgreementOwner)
}
