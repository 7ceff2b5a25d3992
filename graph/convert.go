package graph

import (
	"signet/accounts"
	"signet/errs"
	"signet/flows"
)

// authPayload converts a domain login result.
func authPayload(res accounts.AuthResult, err error) (*AuthPayload, error) {
	if err != nil {
		return nil, err
	}
	return &AuthPayload{Token: res.Token, User: res.User, Session: res.Session}, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// draftInput converts the GraphQL draft input.
func draftInput(in FlowDraftInput) flows.DraftInput {
	out := flows.DraftInput{Name: in.Name, Ordered: in.Ordered == nil || *in.Ordered, Deadline: in.Deadline, Passcode: in.Passcode}
	if in.Scene != nil {
		out.Scene = *in.Scene
	}
	if in.Participants != nil {
		out.Participants = []flows.ParticipantInput{}
		for _, p := range in.Participants {
			pi := flows.ParticipantInput{Key: p.Key, Name: p.Name, Phone: p.Phone, Email: deref(p.Email), EnterpriseName: deref(p.EnterpriseName)}
			if p.Role != nil {
				pi.Role = *p.Role
			}
			if p.Kind != nil {
				pi.Kind = *p.Kind
			}
			if p.Order != nil {
				pi.Order = *p.Order
			}
			out.Participants = append(out.Participants, pi)
		}
	}
	if in.Fields != nil {
		out.Fields = []flows.FieldInput{}
		for _, f := range in.Fields {
			out.Fields = append(out.Fields, flows.FieldInput{DocumentID: f.DocumentID, ParticipantKey: f.ParticipantKey,
				Kind: f.Kind, Page: f.Page, X: f.X, Y: f.Y, Width: f.Width, Height: f.Height})
		}
	}
	return out
}

// listFilter converts the GraphQL list filter.
func listFilter(f *FlowListFilter) flows.Filter {
	if f == nil {
		return flows.Filter{}
	}
	out := flows.Filter{Keyword: deref(f.Keyword), Party: deref(f.Party), Contract: deref(f.Contract),
		SentFrom: f.SentFrom, SentTo: f.SentTo, DeadlineFrom: f.DeadlineFrom, DeadlineTo: f.DeadlineTo}
	if f.Scene != nil {
		out.Scene = *f.Scene
	}
	return out
}

// remindResults converts reminder outcomes, with each failure's code and message.
func remindResults(res []flows.RemindResult) []*RemindResult {
	out := make([]*RemindResult, len(res))
	for i, r := range res {
		out[i] = &RemindResult{FlowID: r.FlowID, Reminded: r.Reminded}
		if r.Err != nil {
			msg, code := errs.MessageOf(r.Err), string(errs.CodeOf(r.Err))
			out[i].Error, out[i].Code = &msg, &code
		}
	}
	return out
}

// signInput converts the GraphQL signing input.
func signInput(in SignFlowInput) flows.SignInput {
	out := flows.SignInput{FlowID: in.FlowID, Code: deref(in.Code)}
	if in.PersonalSealID != nil {
		out.PersonalSealID = *in.PersonalSealID
	}
	if in.EnterpriseSealID != nil {
		out.EnterpriseSealID = *in.EnterpriseSealID
	}
	for _, p := range in.Placements {
		out.Placements = append(out.Placements, flows.Placement{DocumentID: p.DocumentID, Kind: p.Kind, Page: p.Page,
			X: p.X, Y: p.Y, Width: p.Width, Height: p.Height})
	}
	return out
}
