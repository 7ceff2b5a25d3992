package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// PairingSession pairs a logged-in PC session with a phone for one
// handwriting capture (USR-1, package pairing): the PC shows a QR code of
// {BaseURL}/p/{token}; the phone opens it without logging in and submits a
// drawn signature, which becomes the user's handwritten seal. Only the
// SHA-256 of the token is stored; the session is single-use and short-lived.
type PairingSession struct{ ent.Schema }

// Mixin of the PairingSession.
func (PairingSession) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the PairingSession.
func (PairingSession) Fields() []ent.Field {
	return []ent.Field{
		field.String("token_hash").Unique().NotEmpty().MaxLen(64).Immutable().Comment("hex SHA-256 of the token"),
		field.Int("user_id").Immutable(),
		field.Enum("purpose").Values("handwriting").Default("handwriting").Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
		field.Int("seal_id").Optional().Nillable(),
		field.Bytes("strokes").Optional().MaxLen(1<<20).Comment("JSON strokes with timing, as submitted"),
		field.String("ip").Optional().MaxLen(64),
		field.String("user_agent").Optional().MaxLen(256),
	}
}

// Indexes of the PairingSession.
func (PairingSession) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id"), index.Fields("expires_at")}
}

// Policy of the PairingSession: only the system (package pairing) reads or
// writes sessions.
func (PairingSession) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the PairingSession.
func (PairingSession) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
