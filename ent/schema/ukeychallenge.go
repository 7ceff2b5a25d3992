package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// UKeyChallenge is a server challenge a UKey signs to log in, to bind the
// token to an account, or to bind an enterprise's token to its custody record
// (package accounts, ukey.go): a random nonce for one purpose and origin,
// valid until expires_at and usable once. It lives in the database so any
// node can check it.
type UKeyChallenge struct{ ent.Schema }

// Mixin of the UKeyChallenge.
func (UKeyChallenge) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the UKeyChallenge.
func (UKeyChallenge) Fields() []ent.Field {
	return []ent.Field{
		field.String("nonce").Unique().NotEmpty().MaxLen(64).Immutable(),
		field.Enum("purpose").Values("login", "bind", "bind_enterprise").Immutable(),
		field.String("origin").NotEmpty().MaxLen(256).Immutable(),
		field.Int("user_id").Optional().Nillable().Immutable().
			Comment("The account a bind challenge was issued to; empty for login"),
		field.Int("certificate_id").Optional().Nillable().Immutable().
			Comment("The enterprise's UKey custody record a bind_enterprise challenge may bind"),
		field.String("ip").Optional().MaxLen(64).Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Indexes of the UKeyChallenge.
func (UKeyChallenge) Indexes() []ent.Index {
	return []ent.Index{index.Fields("expires_at")}
}

// Policy of the UKeyChallenge: only the system reads or writes challenges.
func (UKeyChallenge) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the UKeyChallenge.
func (UKeyChallenge) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
