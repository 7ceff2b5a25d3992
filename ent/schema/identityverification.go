package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// IdentityVerification is one personal real-name verification (个人实名认证,
// PRODUCT.md IDV-1…3): the details the user entered and the outcome of the
// check by one provider. Only the provider's transaction id, the method and
// the time are kept as evidence — never a face image or liveness video, and
// of a bank card only its masked number.
type IdentityVerification struct{ ent.Schema }

// Mixin of the IdentityVerification.
func (IdentityVerification) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the IdentityVerification.
func (IdentityVerification) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.String("name").NotEmpty().MaxLen(64).Immutable(),
		field.String("id_number").Sensitive().MaxLen(18).MinLen(18).Immutable().
			Annotations(entgql.Skip()).Comment("Resident ID number; never shown, never in a certificate"),
		field.String("id_number_masked").MaxLen(18).Immutable(),
		field.String("email").Optional().MaxLen(128).Immutable(),
		field.String("phone").MaxLen(11).Immutable(),
		field.Enum("method").Values("face", "carrier_three", "bank_four").Optional().Nillable(),
		field.Enum("status").Values("collected", "pending", "verified", "failed").Default("collected"),
		field.String("provider").Optional().MaxLen(64),
		field.String("provider_txn_id").Optional().MaxLen(128),
		field.String("bank_card_masked").Optional().MaxLen(32),
		field.String("face_redirect_url").Optional().MaxLen(512),
		field.String("failure_reason").Optional().MaxLen(256),
		field.Int("attempts").Default(0).Annotations(entgql.Skip()),
		field.Time("verified_at").Optional().Nillable(),
	}
}

// Edges of the IdentityVerification.
func (IdentityVerification) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the IdentityVerification.
func (IdentityVerification) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "status"), index.Fields("provider_txn_id")}
}

// Policy of the IdentityVerification: a user sees only their own.
func (IdentityVerification) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnUser) }
