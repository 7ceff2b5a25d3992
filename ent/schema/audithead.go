package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"signet/ent/schema/rule"
)

// AuditHead is the head of one audit chain: the number and hash of its last
// event. audit.Append locks it (SELECT … FOR UPDATE on PostgreSQL; SQLite's
// BEGIN IMMEDIATE already serialises writers) so appends to one chain are
// serialised while different chains proceed in parallel; audit.Verify compares
// it with the last event, which catches a truncated tail that the chain alone
// could not show. Heads are updated, never deleted.
type AuditHead struct{ ent.Schema }

// Fields of the AuditHead.
func (AuditHead) Fields() []ent.Field {
	return []ent.Field{
		field.String("chain").NotEmpty().MaxLen(128).Unique().Immutable(),
		field.Int64("seq").NonNegative(),
		field.String("hash").MinLen(64).MaxLen(64),
	}
}

// Hooks of the AuditHead: heads are never deleted.
func (AuditHead) Hooks() []ent.Hook {
	return []ent.Hook{refuseChanges("audit chain heads are never deleted", ent.OpDelete, ent.OpDeleteOne)}
}

// Policy of the AuditHead: system only.
func (AuditHead) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the AuditHead.
func (AuditHead) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
