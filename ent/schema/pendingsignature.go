package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// PendingSignature is a UKey signature between its two phases (package
// flows, ukeysign.go): the intent code was used, each document's next
// signature was prepared on the revision it had then (pades.Prepare, kept in
// the blob store), and the digests went to the signer's UKey helper. The row
// holds no lock and no transaction: completing it commits only when every
// document is still on that revision. It lives for minutes and is used once.
type PendingSignature struct{ ent.Schema }

// Mixin of the PendingSignature.
func (PendingSignature) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the PendingSignature.
func (PendingSignature) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable().Comment("Who prepared it; only they may complete or cancel it"),
		field.Int("flow_id").Immutable(),
		field.Int("participant_id").Immutable(),
		field.String("scope").MaxLen(256).Immutable().Comment("The intent scope the code was bound to"),
		field.String("fingerprint").MaxLen(16).Immutable().Comment("Short fingerprint shown by the helper and the SMS"),
		field.Bytes("state").Comment("JSON: fields, seals and per document the revision prepared on, the prepared blob key, digest, certificate"),
		field.Int("round").Default(1).Comment("Each extra signature on one document needs the previous one completed: one round per signature"),
		field.Enum("status").Values("pending", "completed", "cancelled", "void").Default("pending"),
		field.Time("expires_at"),
		field.Time("finished_at").Optional().Nillable(),
	}
}

// Indexes of the PendingSignature.
func (PendingSignature) Indexes() []ent.Index {
	return []ent.Index{index.Fields("participant_id", "status"), index.Fields("expires_at")}
}

// Policy of the PendingSignature: a user reads only their own.
func (PendingSignature) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnUser) }

// Annotations of the PendingSignature.
func (PendingSignature) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
