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

// Contact is an entry of a user's contacts (联系人管理, USR-2): a person, or
// an enterprise's handler, the user sends contracts to. Parties a user signed
// a completed flow with are added automatically (source auto). One owner has
// at most one contact per phone and enterprise.
type Contact struct{ ent.Schema }

// Mixin of the Contact.
func (Contact) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Contact.
func (Contact) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable().Annotations(entgql.Skip()).Comment("The owner"),
		field.String("name").NotEmpty().MaxLen(64).Annotations(entgql.OrderField("NAME")),
		field.String("phone").MaxLen(11),
		field.String("email").Optional().Default("").MaxLen(128),
		field.String("enterprise_name").Optional().Default("").MaxLen(128).
			Comment("Empty for a person; the enterprise when the contact is its handler"),
		field.Enum("source").Values("manual", "auto").Default("manual").Immutable(),
	}
}

// Edges of the Contact.
func (Contact) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("owner", User.Type).Field("user_id").Unique().Required().Immutable().Annotations(entgql.Skip()),
		edge.To("groups", ContactGroup.Type).
			StorageKey(edge.Table("contact_group_members"), edge.Columns("contact_id", "contact_group_id")),
	}
}

// Indexes of the Contact.
func (Contact) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "phone", "enterprise_name").Unique(),
		index.Fields("user_id", "name"),
	}
}

// Policy of the Contact: its owner only.
func (Contact) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnUser) }

// Annotations of the Contact.
func (Contact) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}

// ContactGroup is a named group of a user's contacts (分组).
type ContactGroup struct{ ent.Schema }

// Mixin of the ContactGroup.
func (ContactGroup) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the ContactGroup.
func (ContactGroup) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Immutable().Annotations(entgql.Skip()).Comment("The owner"),
		field.String("name").NotEmpty().MaxLen(32),
	}
}

// Edges of the ContactGroup.
func (ContactGroup) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("owner", User.Type).Field("user_id").Unique().Required().Immutable().Annotations(entgql.Skip()),
		// Members are read through the contacts query (paginated, searchable).
		edge.From("contacts", Contact.Type).Ref("groups").Annotations(entgql.Skip()),
	}
}

// Indexes of the ContactGroup.
func (ContactGroup) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "name").Unique()}
}

// Policy of the ContactGroup: its owner only.
func (ContactGroup) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnUser) }
