package graph

import (
	"context"
	"time"

	"signet/audit"
	"signet/contacts"
	"signet/ent/flow"
	"signet/flows"
	"signet/server/gqlws"
)

// FlowUpdate is the GraphQL FlowUpdate (declared here because ent's
// FlowUpdate builder would take the name through autobind).
type FlowUpdate struct {
	FlowID    int         `json:"flowID"`
	Kind      string      `json:"kind"`
	SubjectID *int        `json:"subjectID,omitempty"`
	Status    flow.Status `json:"status"`
	Time      time.Time   `json:"time"`
}

func flowUpdate(u flows.Update) *FlowUpdate {
	out := &FlowUpdate{FlowID: u.FlowID, Kind: u.Kind, Status: u.Status, Time: u.At}
	if u.SubjectID != 0 {
		id := u.SubjectID
		out.SubjectID = &id
	}
	return out
}

// watchFlow streams a flow's updates through a gqlws.Stream (a plain
// channel under other transports). Every watcher of a flow gets the same
// hub updates, and a FlowUpdate is made of the update alone — plain fields,
// nothing about the viewer — so those are sent shared: one execution of the
// subscriber's selection serves all who sent the same operation. The first
// update (subscribed) is the subscriber's own.
func watchFlow(ctx context.Context, contracts *flows.Service, id int) (<-chan *FlowUpdate, error) {
	st := gqlws.NewStream[*FlowUpdate](ctx, flows.UpdateBuffer)
	err := contracts.WatchFlowFunc(ctx, id, func(u flows.Update) bool {
		if u.Kind == flows.KindSubscribed {
			return st.Send(flowUpdate(u))
		}
		return st.SendShared(u, flowUpdate(u))
	}, st.Close)
	if err != nil {
		return nil, err
	}
	return st.C(), nil
}

func flowCounts(c flows.Counts) *FlowCounts {
	return &FlowCounts{Todo: c[flows.ListTodo], Drafts: c[flows.ListDrafts], Done: c[flows.ListDone],
		Initiated: c[flows.ListInitiated], Cc: c[flows.ListCC], Completed: c[flows.ListCompleted], Voided: c[flows.ListVoided]}
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func flowTrailPage(p *flows.TrailPage) *FlowTrailPage {
	out := &FlowTrailPage{Events: make([]*TrailEvent, 0, len(p.Entries)), HasNextPage: p.Next != 0}
	if p.Next != 0 {
		n := int(p.Next)
		out.NextAfter = &n
	}
	for _, e := range p.Entries {
		te := &TrailEvent{Seq: int(e.Seq), Time: e.Time, Actor: e.Actor, ActorType: string(e.ActorType),
			Action: string(e.Action), ActionLabel: e.Action.Label(), SubjectType: e.SubjectType, Subject: e.Subject,
			Reason: optString(e.Reason), IP: e.IP, Hash: e.Hash, PrevHash: e.PrevHash}
		if e.SubjectID != 0 {
			id := e.SubjectID
			te.SubjectID = &id
		}
		out.Events = append(out.Events, te)
	}
	return out
}

func flowProgress(p *flows.Progress) *FlowProgress {
	out := &FlowProgress{Flow: p.Flow, Parties: make([]*PartyProgress, 0, len(p.Parties))}
	for _, x := range p.Parties {
		out.Parties = append(out.Parties, &PartyProgress{ParticipantID: x.ParticipantID, Role: x.Role, Kind: x.Kind,
			Order: x.Order, Name: x.Name, EnterpriseName: optString(x.EnterpriseName), MaskedPhone: x.MaskedPhone,
			Status: x.Status, ViewedAt: x.ViewedAt, SignedAt: x.SignedAt, DeclinedAt: x.DeclinedAt,
			DeclineReason: optString(x.DeclineReason), LastRemindedAt: x.LastRemindedAt, IsMe: x.Mine})
	}
	return out
}

func trailVerification(r audit.Report) *TrailVerification {
	out := &TrailVerification{Ok: r.OK(), Events: r.Events, LastSeq: int(r.LastSeq), LastHash: r.LastHash,
		Problems: make([]*TrailProblem, 0, len(r.Problems))}
	for _, p := range r.Problems {
		out.Problems = append(out.Problems, &TrailProblem{Seq: int(p.Seq), Kind: string(p.Kind), Detail: p.Detail})
	}
	return out
}

func contactInput(in ContactInput) contacts.Input {
	return contacts.Input{Name: in.Name, Phone: in.Phone, Email: deref(in.Email), EnterpriseName: deref(in.EnterpriseName), GroupIDs: in.GroupIDs}
}
