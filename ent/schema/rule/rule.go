// Package rule holds the ent privacy rules shared by Signet's schemas. They
// read the viewer from the context (package viewer): the system viewer passes,
// an authenticated user sees only rows they own, anyone else is denied.
package rule

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"signet/ent/privacy"
	"signet/viewer"
)

// AllowIfSystem lets the platform's own work through.
func AllowIfSystem() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if viewer.FromContext(ctx).IsSystem() {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// OwnerFilter narrows a query to the rows the user owns.
type OwnerFilter func(f privacy.Filter, userID int) error

// OwnerPolicy lets the system do anything, lets an authenticated user read
// only their own rows (the filter is added to every query), and denies the
// rest. Writes by users go through domain packages, which check the rules and
// write as the system.
func OwnerPolicy(filter OwnerFilter) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			AllowIfSystem(),
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v := viewer.FromContext(ctx)
				if !v.Authenticated() {
					return privacy.Denyf("anonymous viewer")
				}
				if err := filter(f, v.UserID); err != nil {
					return privacy.Denyf("owner filter: %v", err)
				}
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: privacy.MutationPolicy{
			AllowIfSystem(),
			privacy.AlwaysDenyRule(),
		},
	}
}

// SystemOnlyPolicy allows only the system viewer (codes, captchas, throttles).
func SystemOnlyPolicy() ent.Policy {
	return privacy.Policy{
		Query:    privacy.QueryPolicy{AllowIfSystem(), privacy.AlwaysDenyRule()},
		Mutation: privacy.MutationPolicy{AllowIfSystem(), privacy.AlwaysDenyRule()},
	}
}

type idFilter interface{ WhereID(entql.IntP) }

type userIDFilter interface{ WhereUserID(entql.IntP) }

// FilterUserSelf narrows users to the viewer.
func FilterUserSelf(f privacy.Filter, userID int) error {
	uf, ok := f.(idFilter)
	if !ok {
		return privacy.Denyf("unexpected filter %T", f)
	}
	uf.WhereID(entql.IntEQ(userID))
	return nil
}

// byUserID narrows rows with a user_id column to the viewer.
func byUserID(f privacy.Filter, userID int) error {
	uf, ok := f.(userIDFilter)
	if !ok {
		return privacy.Denyf("unexpected filter %T", f)
	}
	uf.WhereUserID(entql.IntEQ(userID))
	return nil
}

// FilterSessionOwner narrows sessions to the viewer's.
func FilterSessionOwner(f privacy.Filter, userID int) error { return byUserID(f, userID) }

// FilterCredentialOwner narrows credentials to the viewer's.
func FilterCredentialOwner(f privacy.Filter, userID int) error { return byUserID(f, userID) }

// FilterAgreementOwner narrows agreement acceptances to the viewer's.
func FilterAgreementOwner(f privacy.Filter, userID int) error { return byUserID(f, userID) }

// FlowFilter narrows a query to the rows of flows the viewer may see.
type FlowFilter func(f privacy.Filter, v viewer.Viewer) error

// FlowPolicy lets the system do anything and lets an authenticated user read
// the flows they initiated or take part in (as signer or CC, bound by user
// or by their verified phone), with their documents, parties and fields.
// Writes go through the flows domain package, which writes as the system.
func FlowPolicy(filter FlowFilter) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			AllowIfSystem(),
			privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
				v := viewer.FromContext(ctx)
				if !v.Authenticated() {
					return privacy.Denyf("anonymous viewer")
				}
				if err := filter(f, v); err != nil {
					return privacy.Denyf("flow filter: %v", err)
				}
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: privacy.MutationPolicy{AllowIfSystem(), privacy.AlwaysDenyRule()},
	}
}

// flowVisible is the entql predicate on flows: initiated by v, or with a
// participant bound to v or, while unbound, addressed to v's phone.
func flowVisible(v viewer.Viewer) entql.P {
	mine := entql.FieldEQ("user_id", v.UserID)
	if v.Phone != "" {
		mine = entql.Or(mine, entql.And(entql.FieldNil("user_id"), entql.FieldEQ("phone", v.Phone)))
	}
	return entql.Or(entql.FieldEQ("initiator_id", v.UserID), entql.HasEdgeWith("participants", mine))
}

// FilterFlowVisible narrows flows to those the viewer may see.
func FilterFlowVisible(f privacy.Filter, v viewer.Viewer) error {
	f.Where(flowVisible(v))
	return nil
}

// FilterFlowChild narrows documents, participants and fields to those of
// visible flows.
func FilterFlowChild(f privacy.Filter, v viewer.Viewer) error {
	f.Where(entql.HasEdgeWith("flow", flowVisible(v)))
	return nil
}
