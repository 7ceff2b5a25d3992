package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// SMSCode is a one-time verification code sent by SMS. Only its hash is kept.
// A code is bound to a phone, a purpose and an optional scope (for intent
// codes: the flow, participant, revision and fields it confirms).
type SMSCode struct{ ent.Schema }

// Fields of the SMSCode.
func (SMSCode) Fields() []ent.Field {
	return []ent.Field{
		field.String("phone").MaxLen(11).Immutable(),
		field.String("purpose").NotEmpty().MaxLen(32).Immutable(),
		field.String("scope").Default("").MaxLen(256).Immutable(),
		field.Bytes("code_hash").Sensitive().Immutable(),
		field.String("ip").Optional().MaxLen(64).Immutable(),
		field.Int("attempts").Default(0).NonNegative(),
		field.Time("created_at").Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("consumed_at").Optional().Nillable(),
	}
}

// Indexes of the SMSCode: a phone's codes by time (the sending limits);
// the newest code of a phone for one purpose and scope (checking a code);
// an IP's codes by time.
func (SMSCode) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("phone", "created_at"),
		index.Fields("phone", "purpose", "scope", "created_at"),
		index.Fields("ip", "created_at"),
	}
}

// Policy of the SMSCode: only the system reads or writes codes.
func (SMSCode) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the SMSCode.
func (SMSCode) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
