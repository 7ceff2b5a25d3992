package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"signet/ent/schema/rule"
)

// Captcha is a server-generated image challenge: one answer, short-lived,
// usable once. Kept in the database so any node can check it.
type Captcha struct{ ent.Schema }

// Fields of the Captcha.
func (Captcha) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique().Immutable().NotEmpty(),
		field.Bytes("answer_hash").Sensitive().Immutable(),
		field.Time("created_at").Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Policy of the Captcha.
func (Captcha) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the Captcha.
func (Captcha) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
