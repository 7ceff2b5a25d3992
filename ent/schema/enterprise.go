package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// Enterprise is an organisation on the platform (认证企业, PRODUCT.md
// ENT-1…4): created when a user starts its certification, certified once the
// CA approves. Its status is what 我认证的企业 shows: 认证中 (certifying),
// 已认证 (certified), 已撤销 (revoked) or 审核未通过 (rejected).
type Enterprise struct{ ent.Schema }

// Mixin of the Enterprise.
func (Enterprise) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Enterprise.
func (Enterprise) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(128).Comment("As on the business licence"),
		field.String("credit_code").MinLen(18).MaxLen(18).Comment("Unified social credit code (GB 32100)"),
		field.String("address").NotEmpty().MaxLen(256),
		field.String("legal_rep_name").NotEmpty().MaxLen(64),
		field.String("legal_rep_id_number").Sensitive().MinLen(18).MaxLen(18).Annotations(entgql.Skip()),
		field.String("legal_rep_id_masked").MaxLen(18),
		field.Enum("custody").Values("hosted", "ukey").Default("hosted"),
		field.Enum("ukey_type").Values("one_key_one_seal", "one_key_many_seals").Optional().Nillable(),
		field.Enum("status").Values("certifying", "certified", "revoked", "rejected").Default("certifying"),
		field.Int("certifier_id").Immutable().Comment("The user who certified it (我认证的企业)"),
		field.Time("certified_at").Optional().Nillable(),
		field.Bool("recertify_required").Default(false).
			Comment("Name or credit code changed: seals voided until re-certified"),
	}
}

// Edges of the Enterprise.
func (Enterprise) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("certifier", User.Type).Field("certifier_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Enterprise.
func (Enterprise) Indexes() []ent.Index {
	return []ent.Index{index.Fields("credit_code", "status"), index.Fields("name", "status"), index.Fields("certifier_id")}
}

// Policy of the Enterprise: its members and its certifier see it.
func (Enterprise) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterEnterpriseVisible) }
