package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"signet/ent/schema/rule"
)

// User is a person with an account, identified by a mainland mobile phone.
type User struct{ ent.Schema }

// Mixin of the User.
func (User) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the User.
func (User) Fields() []ent.Field {
	return []ent.Field{
		field.String("phone").Unique().MaxLen(11).MinLen(11).
			Comment("Mainland mobile number, the login name"),
		field.String("name").Optional().MaxLen(64).
			Comment("Display name; the verified real name once identity is proven"),
		field.Time("phone_verified_at").Optional().Nillable(),
	}
}

// Edges of the User.
func (User) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("credentials", Credential.Type).Annotations(entgql.Skip()),
		edge.To("sessions", Session.Type).Annotations(entgql.RelayConnection()),
		edge.To("agreements", AgreementAcceptance.Type),
	}
}

// Policy of the User: a user sees only themselves.
func (User) Policy() ent.Policy {
	return rule.OwnerPolicy(rule.FilterUserSelf)
}
