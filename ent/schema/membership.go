package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
)

// Membership makes a user a member of an enterprise with a role:
// administrator (manages the console) or member.
type Membership struct{ ent.Schema }

// Mixin of the Membership.
func (Membership) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Membership.
func (Membership) Fields() []ent.Field {
	return []ent.Field{
		field.Int("enterprise_id").Immutable(),
		field.Int("user_id").Immutable(),
		field.Enum("role").Values("admin", "member").Default("member"),
		field.String("title").Optional().MaxLen(64).Comment("Position or department shown in the console"),
	}
}

// Edges of the Membership.
func (Membership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("enterprise", Enterprise.Type).Field("enterprise_id").Unique().Required().Immutable(),
		edge.To("user", User.Type).Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the Membership.
func (Membership) Indexes() []ent.Index {
	return []ent.Index{index.Fields("enterprise_id", "user_id").Unique(), index.Fields("user_id")}
}

// Policy of the Membership: members see their enterprise's members.
func (Membership) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterEnterpriseMember) }
