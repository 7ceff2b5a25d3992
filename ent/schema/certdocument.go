package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// CertDocument is a file uploaded for a certificate application: the signed
// authorisation letter (法人授权委托书), the business licence, the
// applicant's ID card front and back. The content is in the blob store under
// blob_key, or inline in data until the blob store is configured.
type CertDocument struct{ ent.Schema }

// Mixin of the CertDocument.
func (CertDocument) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the CertDocument.
func (CertDocument) Fields() []ent.Field {
	return []ent.Field{
		field.Int("order_id").Immutable(),
		field.Enum("kind").Values("authorization_letter", "business_license", "applicant_id_front", "applicant_id_back").Immutable(),
		field.String("file_name").NotEmpty().MaxLen(255),
		field.String("content_type").MaxLen(64),
		field.Int("size"),
		field.String("sha256").MaxLen(64),
		field.String("blob_key").Optional().MaxLen(255).Annotations(entgql.Skip()),
		field.Bytes("data").Optional().Annotations(entgql.Skip()),
	}
}

// Edges of the CertDocument.
func (CertDocument) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("order", CertOrder.Type).Ref("documents").Field("order_id").Unique().Required().Immutable(),
	}
}

// Indexes of the CertDocument.
func (CertDocument) Indexes() []ent.Index {
	return []ent.Index{index.Fields("order_id", "kind").Unique()}
}

// Policy of the CertDocument: the applicant of its order.
func (CertDocument) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOrderApplicant) }
