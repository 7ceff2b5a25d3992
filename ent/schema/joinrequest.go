package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// JoinRequest is a user's request to join a certified enterprise (加入企业,
// PRODUCT.md ENT-5, ENT-13), decided by an administrator.
type JoinRequest struct{ ent.Schema }

// Mixin of the JoinRequest.
func (JoinRequest) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the JoinRequest.
func (JoinRequest) Fields() []ent.Field {
	return []ent.Field{
		field.Int("enterprise_id").Immutable(),
		field.Int("user_id").Immutable(),
		field.String("reason").NotEmpty().MaxLen(200),
		field.Enum("status").Values("pending", "approved", "rejected", "revoked").Default("pending"),
		field.Int("decided_by").Optional().Nillable(),
		field.Time("decided_at").Optional().Nillable(),
		field.String("reject_reason").Optional().MaxLen(200),
	}
}

// Edges of the JoinRequest.
func (JoinRequest) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("enterprise", Enterprise.Type).Field("enterprise_id").Unique().Required().Immutable(),
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the JoinRequest.
func (JoinRequest) Indexes() []ent.Index {
	return []ent.Index{index.Fields("enterprise_id", "status"), index.Fields("user_id", "status")}
}

// Policy of the JoinRequest: the applicant and the enterprise's administrators.
func (JoinRequest) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnOrAdministered) }
