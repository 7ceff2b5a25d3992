package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// SealGrant lets a member sign with an enterprise seal (授权中心, PRODUCT.md
// ENT-11) during a validity period and within a scope: scenes and
// counterparties (empty means any).
type SealGrant struct{ ent.Schema }

// Mixin of the SealGrant.
func (SealGrant) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the SealGrant.
func (SealGrant) Fields() []ent.Field {
	return []ent.Field{
		field.Int("enterprise_id").Immutable(),
		field.Int("seal_id").Immutable(),
		field.Int("user_id").Immutable().Comment("The member allowed to use the seal"),
		field.Int("granted_by").Immutable(),
		field.Time("valid_from").Immutable(),
		field.Time("valid_until").Immutable(),
		field.Strings("scenes").Optional().Immutable().Comment("Flow scenes (general, hr); empty: any"),
		field.Strings("counterparties").Optional().Immutable().Comment("Counterparty names; empty: any"),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revoked_reason").Optional().MaxLen(128),
	}
}

// Edges of the SealGrant.
func (SealGrant) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("enterprise", Enterprise.Type).Field("enterprise_id").Unique().Required().Immutable(),
		edge.To("seal", Seal.Type).Field("seal_id").Unique().Required().Immutable(),
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the SealGrant.
func (SealGrant) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "seal_id"), index.Fields("enterprise_id")}
}

// Policy of the SealGrant: the grantee and the enterprise's administrators.
func (SealGrant) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnOrAdministered) }
