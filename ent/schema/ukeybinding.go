package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// UKeyBinding is a personal UKey certificate bound to an account for
// certificate login (ACC-4, ACC-8). The key stays on the token; the server
// keeps the certificate. Unbinding deletes the row, so a certificate can be
// bound again later, to one account at a time.
type UKeyBinding struct{ ent.Schema }

// Mixin of the UKeyBinding.
func (UKeyBinding) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the UKeyBinding.
func (UKeyBinding) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.String("fingerprint").NotEmpty().MaxLen(64).Immutable().
			Comment("SHA-256 of the certificate DER, lower-case hex"),
		field.String("serial").NotEmpty().MaxLen(64).Immutable().Comment("Lower-case hex serial"),
		field.String("subject").MaxLen(256).Immutable(),
		field.Bytes("der").NotEmpty().Immutable(),
		field.Time("not_after").Immutable(),
		field.Time("bound_at").Immutable(),
	}
}

// Edges of the UKeyBinding.
func (UKeyBinding) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the UKeyBinding: a certificate is bound to one account at most.
func (UKeyBinding) Indexes() []ent.Index {
	return []ent.Index{index.Fields("fingerprint").Unique(), index.Fields("user_id")}
}

// Policy of the UKeyBinding: a user reads only their own bindings.
func (UKeyBinding) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnUser) }

// Annotations of the UKeyBinding.
func (UKeyBinding) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
