package enterprises

import (
	"context"
	"strconv"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/errs"
	"signet/events"
	"signet/viewer"
)

// This file holds the trail (轨迹) of an enterprise and its live updates.
//
// Every decision about an enterprise — certification steps that change its
// state, joins, members and roles, seals, grants, certificates — is one
// audit event on the enterprise's chain (AuditChain), written in the same
// transaction as the change. After commit a live update goes to the
// enterprise's topic (the console) and, when a person is concerned (the
// applicant, the joiner, the member), to that user's topic. Updates carry
// ids only; clients re-read what they show.

// AuditChain is the audit chain of an enterprise's trail.
func AuditChain(enterpriseID int) string { return "enterprise:" + strconv.Itoa(enterpriseID) }

// Topic is the live-update topic of an enterprise's console.
func Topic(enterpriseID int) string { return "enterprise:" + strconv.Itoa(enterpriseID) }

// actor is the viewer as the trail shows them: the user with a masked
// phone, or the system (jobs, provider callbacks).
func actor(ctx context.Context) audit.Actor {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return audit.System()
	}
	return audit.User(v.UserID, accounts.MaskPhone(v.Phone))
}

// fact is one event of an enterprise's trail and the users to tell.
type fact struct {
	Enterprise int
	Action     audit.Action
	Subject    audit.Subject
	Payload    any
	// Users are told on their own topic (applicant, joiner, member).
	Users []int
}

// record appends f to the enterprise's trail in tx and publishes its live
// update after commit.
func (s *Service) record(ctx context.Context, tx *ent.Tx, f fact) error {
	if _, err := audit.Append(ctx, tx, audit.Event{Chain: AuditChain(f.Enterprise), Actor: actor(ctx),
		Action: f.Action, Subject: f.Subject, Payload: f.Payload, Time: s.now()}); err != nil {
		return err
	}
	evs := []events.Event{{Topic: Topic(f.Enterprise), Kind: string(f.Action), ID: f.Subject.ID}}
	for _, u := range f.Users {
		evs = append(evs, events.Event{Topic: events.UserTopic(u), Kind: string(f.Action), ID: f.Subject.ID})
	}
	events.AfterCommit(tx, s.events, evs...)
	return nil
}

// Subjects of enterprise events.
func subjectEnterprise(id int) audit.Subject  { return audit.Subject{Type: "enterprise", ID: id} }
func subjectOrder(id int) audit.Subject       { return audit.Subject{Type: "cert_order", ID: id} }
func subjectJoin(id int) audit.Subject        { return audit.Subject{Type: "join_request", ID: id} }
func subjectMember(id int) audit.Subject      { return audit.Subject{Type: "membership", ID: id} }
func subjectSeal(id int) audit.Subject        { return audit.Subject{Type: "seal", ID: id} }
func subjectGrant(id int) audit.Subject       { return audit.Subject{Type: "seal_grant", ID: id} }
func subjectCertificate(id int) audit.Subject { return audit.Subject{Type: "certificate", ID: id} }

// TrailPage is a page of an enterprise's trail.
type TrailPage = audit.Page

// ConsoleTrail returns the console enterprise's trail in order, after seq
// after (keyset paging: pass Page.Next back), at most limit events.
// Administrators only.
func (s *Service) ConsoleTrail(ctx context.Context, after int64, limit int) (TrailPage, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return TrailPage{}, err
	}
	if after < 0 {
		return TrailPage{}, errs.InvalidField("after", "分页参数不正确")
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	return audit.List(viewer.System(ctx), s.db, AuditChain(sp.EnterpriseID), after, limit)
}

// Update is a live update for the viewer: Kind is the audit action (or
// events.KindResync: re-read everything), ID the row concerned, and
// EnterpriseID the enterprise whose console it concerns (0 for the
// viewer's own rows).
type Update struct {
	Kind         string
	ID           int
	EnterpriseID int
}

// updateKinds are the actions a user's topic carries for Updates; the
// topic also carries other packages' kinds (flows).
var updateKinds = map[audit.Action]bool{
	audit.IdentityVerified: true, audit.IdentityFailed: true,
	audit.CertificationStarted: true, audit.CertificationSubmitted: true, audit.CertificationApproved: true,
	audit.CertificationRejected: true, audit.CertificationRevoked: true, audit.CertificationContinued: true,
	audit.RecertificationStarted: true, audit.CertDocumentUploaded: true,
	audit.JoinRequested: true, audit.JoinRevoked: true, audit.JoinApproved: true, audit.JoinRejected: true,
	audit.MemberAdded: true, audit.MemberUpdated: true, audit.MemberRemoved: true,
	audit.SealGranted: true, audit.SealGrantRevoked: true,
}

// Updates streams live updates to the viewer until ctx ends: their own
// (certification orders, join decisions, membership changes) and, in an
// enterprise space they administer, the console's. The enterprise space is
// the one active when the subscription starts; switching space means
// subscribing again.
func (s *Service) Updates(ctx context.Context) (<-chan Update, error) {
	sp, err := s.ActiveSpace(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan Update, 16)
	mine, cancelMine := s.events.Subscribe(ctx, events.UserTopic(sp.UserID))
	var console <-chan events.Event
	cancelConsole := func() {}
	if sp.Role == RoleAdmin {
		console, cancelConsole = s.events.Subscribe(ctx, Topic(sp.EnterpriseID))
	}
	go func() {
		defer close(out)
		defer cancelMine()
		defer cancelConsole()
		for mine != nil || console != nil {
			var u Update
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-mine:
				if !ok {
					mine = nil
					continue
				}
				if ev.Kind != events.KindResync && !updateKinds[audit.Action(ev.Kind)] {
					continue // a flow's update on the same topic
				}
				u = Update{Kind: ev.Kind, ID: ev.ID}
			case ev, ok := <-console:
				if !ok {
					console = nil
					continue
				}
				u = Update{Kind: ev.Kind, ID: ev.ID, EnterpriseID: sp.EnterpriseID}
			}
			select {
			case out <- u:
			default: // a client that does not read loses updates, never blocks us
			}
		}
	}()
	return out, nil
}
