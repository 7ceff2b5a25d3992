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

// Credential is a secret a user logs in with: a password hash today; bound
// certificates (UKey) later. Credentials are never exposed through GraphQL.
type Credential struct{ ent.Schema }

// Mixin of the Credential.
func (Credential) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Credential.
func (Credential) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable(),
		field.Enum("kind").Values("password").Immutable(),
		field.String("secret").Sensitive().NotEmpty().
			Comment("argon2id PHC string for passwords"),
	}
}

// Edges of the Credential.
func (Credential) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).Ref("credentials").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Credential.
func (Credential) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "kind").Unique()}
}

// Policy of the Credential.
func (Credential) Policy() ent.Policy { return rule.OwnerPolicy(rule.FilterCredentialOwner) }

// Annotations of the Credential.
func (Credential) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
