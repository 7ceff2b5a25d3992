package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// CertOrder is an enterprise's paperless certificate application (证书无纸化
// 申请, PRODUCT.md ENT-3): a resumable state machine whose step says where
// the applicant (经办人) stands. The enterprises package owns the
// transitions; see its doc comment for the diagram.
type CertOrder struct{ ent.Schema }

// Mixin of the CertOrder.
func (CertOrder) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the CertOrder.
func (CertOrder) Fields() []ent.Field {
	return []ent.Field{
		field.Int("enterprise_id").Immutable(),
		field.Int("applicant_id").Immutable().Comment("The user who applies (the certifier)"),
		field.Enum("kind").Values("certification", "recertification").Default("certification").Immutable().
			Comment("recertification: a certified enterprise whose name or credit code changed applies again"),
		field.Enum("step").Values("application", "preview", "authorization", "documents",
			"confirmation", "payment", "review", "approved", "rejected").Default("application"),
		field.Enum("method").Values("bank_transfer", "legal_rep_phone", "legal_rep_bank_card").Optional().Nillable(),
		field.String("applicant_name").Optional().MaxLen(64),
		field.String("applicant_id_number").Optional().Sensitive().MaxLen(18).Annotations(entgql.Skip()),
		field.String("applicant_id_masked").Optional().MaxLen(18),
		field.String("applicant_phone").Optional().MaxLen(11),
		field.String("legal_rep_phone").Optional().MaxLen(11),
		field.String("legal_rep_card_masked").Optional().MaxLen(32),
		field.String("bank_name").Optional().MaxLen(64),
		field.String("bank_account_masked").Optional().MaxLen(40),
		field.Int("transfer_amount_cents").Optional().Nillable().Annotations(entgql.Skip()).StructTag(`json:"-"`).
			Comment("The random amount sent to the corporate account; the applicant must repeat it"),
		field.Int("transfer_attempts").Default(0).Annotations(entgql.Skip()),
		field.String("check_txn_id").Optional().MaxLen(128).Comment("Provider transaction of the method's check"),
		field.Time("agreement_accepted_at").Optional().Nillable(),
		field.Time("authorized_at").Optional().Nillable(),
		field.Time("confirmed_at").Optional().Nillable(),
		field.Int("fee_cents").Default(0),
		field.Enum("payment_channel").Values("alipay", "wechat").Optional().Nillable(),
		field.String("payment_txn_id").Optional().MaxLen(128),
		field.String("payment_qr").Optional().MaxLen(512),
		field.Time("paid_at").Optional().Nillable(),
		field.String("ca_order_id").Optional().MaxLen(128),
		field.Time("submitted_at").Optional().Nillable(),
		field.Time("decided_at").Optional().Nillable(),
		field.String("reject_reason").Optional().MaxLen(256),
		field.Time("revoked_at").Optional().Nillable().
			Comment("A revoked re-certification (the enterprise itself stays certified)"),
	}
}

// Edges of the CertOrder.
func (CertOrder) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("enterprise", Enterprise.Type).Field("enterprise_id").Unique().Required().Immutable(),
		edge.To("applicant", User.Type).Field("applicant_id").Unique().Required().Immutable(),
		edge.To("documents", CertDocument.Type),
	}
}

// Indexes of the CertOrder.
func (CertOrder) Indexes() []ent.Index {
	return []ent.Index{index.Fields("enterprise_id"), index.Fields("step"), index.Fields("applicant_id")}
}

// Policy of the CertOrder: the applicant and the enterprise's administrators.
func (CertOrder) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterApplicantOrAdmin) }
