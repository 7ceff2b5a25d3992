package schema

import (
	"context"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"signet/ent/schema/rule"
	"signet/signingcore/pades"
)

// Seal is a seal image a person or an enterprise signs with: a personal name
// seal or handwritten signature, or an enterprise's 公章, 合同专用章,
// 法定代表人章 or another seal. Every usable seal is bound to a certificate of
// its owner; signing with it signs with that certificate's key.
type Seal struct{ ent.Schema }

// Mixin of the Seal.
func (Seal) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Seal.
func (Seal) Fields() []ent.Field {
	return []ent.Field{
		field.Int("user_id").Optional().Nillable().Immutable(),
		field.Int("enterprise_id").Optional().Nillable().Immutable(),
		field.Enum("kind").Values("personal", "handwritten", "official", "contract", "legal_rep", "custom").Immutable(),
		field.String("name").NotEmpty().MaxLen(64),
		field.Bytes("image").MaxLen(2<<20).Annotations(entgql.Skip()).Comment("PNG, transparent background"),
		field.Bytes("appearance").Optional().Annotations(entgql.Skip()).
			Comment("the image encoded for signatures (pades.EncodeAppearance), made whenever the image is set; empty when it cannot be encoded"),
		field.Int("width"),
		field.Int("height"),
		field.Enum("source").Values("generated", "uploaded", "handwritten").Immutable(),
		field.Enum("status").Values("enabled", "disabled", "voided").Default("enabled"),
		field.Bool("is_default").Default(false),
		field.Int("certificate_id").Optional().Nillable(),
		field.Time("voided_at").Optional().Nillable(),
		field.String("voided_reason").Optional().MaxLen(128),
	}
}

// Edges of the Seal.
func (Seal) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("user", User.Type).Field("user_id").Unique().Immutable(),
		edge.To("enterprise", Enterprise.Type).Field("enterprise_id").Unique().Immutable(),
		edge.To("certificate", Certificate.Type).Field("certificate_id").Unique(),
	}
}

// Indexes of the Seal.
func (Seal) Indexes() []ent.Index {
	return []ent.Index{index.Fields("user_id", "status"), index.Fields("enterprise_id", "status")}
}

// Hooks of the Seal: the image's encoding for signatures follows the image.
func (Seal) Hooks() []ent.Hook { return []ent.Hook{encodeAppearance} }

// encodeAppearance sets a seal's appearance from its image whenever a
// mutation sets the image: decoding and compressing a seal image costs more
// CPU than the rest of a signature, so it is done once, here, instead of at
// each signature (signingcore's own cache keeps a few dozen seals; a
// platform's signers use thousands). An image that is not a PNG gets no
// appearance; signing with it fails as before.
func encodeAppearance(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		if v, ok := m.Field("image"); ok && m.Op().Is(ent.OpCreate|ent.OpUpdate|ent.OpUpdateOne) {
			img, _ := v.([]byte)
			enc, err := pades.EncodeAppearance(img)
			if err == nil {
				err = m.SetField("appearance", enc)
			} else if m.Op().Is(ent.OpCreate) {
				err = nil
			} else {
				err = m.ClearField("appearance")
			}
			if err != nil {
				return nil, err
			}
		}
		return next.Mutate(ctx, m)
	})
}

// Policy of the Seal: the owner, or the members of the owning enterprise.
func (Seal) Policy() ent.Policy { return rule.TenantPolicy(rule.FilterOwnerOrMember) }
