package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// StagedBlob is a content-addressed blob written in the transaction that
// first refers to it, so it is exactly as durable as that commit, and moved
// to the blob store afterwards (flows/staged.go). A signature stores its new
// revision here instead of syncing a file on the request path; the mover
// writes staged blobs to the store in batches and deletes the rows. Readers
// look in the store first and here second.
type StagedBlob struct{ ent.Schema }

// Fields of the StagedBlob.
func (StagedBlob) Fields() []ent.Field {
	return []ent.Field{
		// key is the blob store key (blob.ContentKey of the content's SHA-256).
		field.String("key").NotEmpty().MaxLen(512).Unique().Immutable(),
		field.Bytes("content").Immutable(),
		field.Time("created_at").Immutable(),
	}
}

// Indexes of the StagedBlob.
func (StagedBlob) Indexes() []ent.Index {
	return []ent.Index{index.Fields("created_at")}
}

// Policy of the StagedBlob: system only.
func (StagedBlob) Policy() ent.Policy { return rule.SystemOnlyPolicy() }

// Annotations of the StagedBlob.
func (StagedBlob) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip()}
}
