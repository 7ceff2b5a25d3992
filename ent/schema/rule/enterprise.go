package rule

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"

	"signet/ent/intercept"
	"signet/ent/privacy"
	"signet/viewer"
)

// This file holds the privacy rules of real-name verification and
// enterprises (identity_verifications, certificates, seals, enterprises,
// memberships, join_requests, seal_grants, cert_orders, cert_documents,
// session_spaces). Each filter narrows a query with an SQL condition on the
// viewer's user id, so a row of another user or another enterprise is never
// returned, whatever the resolver asked for. Roles inside an enterprise
// (administrator or member) are checked by the enterprises package; the
// filters here decide only which enterprises' rows exist for the viewer.

// TenantFilter narrows a query to the rows the user may see.
type TenantFilter func(s *sql.Selector, userID int)

// TenantPolicy lets the system do anything, lets an authenticated user read
// the rows filter leaves, and denies everyone else. Writes go through the
// domain packages (identity, enterprises), which check the rules and write as
// the system.
func TenantPolicy(filter TenantFilter) ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			AllowIfSystem(),
			privacy.QueryRuleFunc(func(ctx context.Context, q ent.Query) error {
				v := viewer.FromContext(ctx)
				if !v.Authenticated() {
					return privacy.Denyf("anonymous viewer")
				}
				iq, err := intercept.NewQuery(q)
				if err != nil {
					return privacy.Denyf("tenant filter: %v", err)
				}
				iq.WhereP(func(s *sql.Selector) { filter(s, v.UserID) })
				return privacy.Skip
			}),
			privacy.AlwaysAllowRule(),
		},
		Mutation: privacy.MutationPolicy{AllowIfSystem(), privacy.AlwaysDenyRule()},
	}
}

// memberOf selects the ids of the enterprises the user is a member of (any
// role).
func memberOf(userID int) *sql.Selector {
	m := sql.Table("memberships")
	return sql.Select(m.C("enterprise_id")).From(m).Where(sql.EQ(m.C("user_id"), userID))
}

// adminOf selects the ids of the enterprises the user administers.
func adminOf(userID int) *sql.Selector {
	m := sql.Table("memberships")
	return sql.Select(m.C("enterprise_id")).From(m).
		Where(sql.And(sql.EQ(m.C("user_id"), userID), sql.EQ(m.C("role"), "admin")))
}

// FilterOwnUser narrows rows with a user_id column to the viewer's.
func FilterOwnUser(s *sql.Selector, userID int) { s.Where(sql.EQ(s.C("user_id"), userID)) }

// FilterEnterpriseVisible narrows enterprises to those the viewer is a
// member of or applied to certify.
func FilterEnterpriseVisible(s *sql.Selector, userID int) {
	s.Where(sql.Or(sql.EQ(s.C("certifier_id"), userID), sql.In(s.C("id"), memberOf(userID))))
}

// FilterEnterpriseMember narrows rows with an enterprise_id column to the
// enterprises the viewer is a member of.
func FilterEnterpriseMember(s *sql.Selector, userID int) {
	s.Where(sql.In(s.C("enterprise_id"), memberOf(userID)))
}

// FilterOwnerOrMember narrows rows owned by a user (user_id) or an
// enterprise (enterprise_id) to the viewer's own and their enterprises'.
// Certificates and seals use it.
func FilterOwnerOrMember(s *sql.Selector, userID int) {
	s.Where(sql.Or(sql.EQ(s.C("user_id"), userID), sql.In(s.C("enterprise_id"), memberOf(userID))))
}

// FilterOwnOrAdministered narrows rows with user_id and enterprise_id
// columns to the viewer's own and those of enterprises they administer
// (join requests, seal grants).
func FilterOwnOrAdministered(s *sql.Selector, userID int) {
	s.Where(sql.Or(sql.EQ(s.C("user_id"), userID), sql.In(s.C("enterprise_id"), adminOf(userID))))
}

// FilterApplicantOrAdmin narrows certification orders to the applicant's
// and those of enterprises the viewer administers.
func FilterApplicantOrAdmin(s *sql.Selector, userID int) {
	s.Where(sql.Or(sql.EQ(s.C("applicant_id"), userID), sql.In(s.C("enterprise_id"), adminOf(userID))))
}

// FilterOrderApplicant narrows rows with an order_id column to the orders the
// viewer applied for.
func FilterOrderApplicant(s *sql.Selector, userID int) {
	o := sql.Table("cert_orders")
	s.Where(sql.In(s.C("order_id"), sql.Select(o.C("id")).From(o).Where(sql.EQ(o.C("applicant_id"), userID))))
}

// FilterSessionSpace narrows session spaces to the viewer's sessions.
func FilterSessionSpace(s *sql.Selector, userID int) {
	t := sql.Table("sessions")
	s.Where(sql.In(s.C("session_id"), sql.Select(t.C("id")).From(t).Where(sql.EQ(t.C("user_id"), userID))))
}
