package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// Certificate is a signing certificate of a person (after real-name
// verification) or of an enterprise (after certification): a hosted key in
// the platform key store with a certificate from the platform CA, or a UKey
// the CA mails to the enterprise (custody "ukey", key never on the server).
type Certificate struct{ ent.Schema }

// Mixin of the Certificate.
func (Certificate) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Certificate.
func (Certificate) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("kind").Values("person", "enterprise").Immutable(),
		field.Int("user_id").Optional().Nillable().Immutable(),
		field.Int("enterprise_id").Optional().Nillable().Immutable(),
		field.Enum("custody").Values("hosted", "ukey").Default("hosted").Immutable(),
		field.Enum("ukey_type").Values("one_key_one_seal", "one_key_many_seals").Optional().Nillable(),
		field.Enum("status").Values("pending", "active", "revoked", "superseded").Default("active"),
		field.String("serial").Optional().MaxLen(64).Comment("Lower-case hex serial; empty while a UKey is being made"),
		field.String("subject").MaxLen(256),
		field.String("subject_id").MaxLen(64).Annotations(entgql.Skip()).
			Comment("Pseudonymous person id or credit code"),
		field.String("key_uri").Optional().MaxLen(512).Annotations(entgql.Skip()),
		field.Bytes("der").Optional().Annotations(entgql.Skip()),
		field.String("fingerprint").Optional().MaxLen(128),
		field.Time("not_before").Optional().Nillable(),
		field.Time("not_after").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revocation_reason").Optional().MaxLen(64),
		field.Int("supersedes_id").Optional().Nillable(),
		field.Time("bound_at").Optional().Nillable().Comment("When the UKey's certificate was bound to this custody record"),
	}
}

// Edges of the Certificate.
func (Certificate) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Immutable(),
		edge.To("enterprise", Enterprise.Type).Field("enterprise_id").Unique().Immutable(),
	}
}

// Indexes of the Certificate.
func (Certificate) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "status"), index.Fields("enterprise_id", "status"), index.Fields("serial")}
}

// Policy of the Certificate: the owner, or the members of the owning enterprise.
func (Certificate) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnerOrMember) }
