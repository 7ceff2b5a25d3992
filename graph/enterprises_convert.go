package graph

import (
	"encoding/base64"
	"strings"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/ent/membership"
	"signet/enterprises"
)

// sentCode converts a sent SMS code.
func sentCode(sent accounts.SentCode, err error) (*SendSMSCodePayload, error) {
	if err != nil {
		return nil, err
	}
	return &SendSMSCodePayload{
		MaskedPhone:        accounts.MaskPhone(sent.Phone),
		ResendAfterSeconds: int(sent.ResendAfter / time.Second),
		ExpiresAt:          sent.ExpiresAt,
	}, nil
}

// derefEnum returns an optional enum's value as a string, "" when absent.
func derefEnum[T ~string](p *T) string {
	if p == nil {
		return ""
	}
	return string(*p)
}

// spaceView converts a domain space.
func spaceView(v enterprises.SpaceView, err error) (*ActiveSpace, error) {
	if err != nil {
		return nil, err
	}
	out := &ActiveSpace{Enterprise: v.Enterprise}
	if !v.Personal() {
		role := membership.Role(v.Role)
		out.Role = &role
	}
	return out, nil
}

// myEnterprises converts the two lists of 我的企业.
func myEnterprises(certified []enterprises.CertifiedEnterprise, joined []enterprises.JoinedEnterprise, err error) (*MyEnterprises, error) {
	if err != nil {
		return nil, err
	}
	out := &MyEnterprises{Certified: []*CertifiedEnterprise{}, Joined: []*JoinedEnterprise{}}
	for _, c := range certified {
		out.Certified = append(out.Certified, &CertifiedEnterprise{Enterprise: c.Enterprise, Order: c.Order,
			StatusTitle: enterprises.StatusTitle(c.Enterprise.Status)})
	}
	for _, j := range joined {
		row := &JoinedEnterprise{EnterpriseID: j.EnterpriseID, EnterpriseName: j.EnterpriseName, CreditCode: j.CreditCode, Request: j.Request}
		if j.Role != "" {
			role := membership.Role(j.Role)
			row.Role = &role
		}
		out.Joined = append(out.Joined, row)
	}
	return out, nil
}

// enterpriseTrail converts a page of an enterprise's trail.
func enterpriseTrail(p enterprises.TrailPage, err error) (*EnterpriseTrailPage, error) {
	if err != nil {
		return nil, err
	}
	out := &EnterpriseTrailPage{Events: []*EnterpriseTrailEvent{}}
	for _, e := range p.Events {
		out.Events = append(out.Events, &EnterpriseTrailEvent{Seq: int(e.Seq), Time: e.CreatedAt, Action: e.Action,
			ActionLabel: audit.Action(e.Action).Label(), ActorName: e.ActorName, SubjectType: e.SubjectType,
			SubjectID: e.SubjectID, Payload: e.Payload, Hash: e.Hash})
	}
	if p.Next > 0 {
		n := int(p.Next)
		out.Next = &n
	}
	return out, nil
}

// liveUpdates converts the domain's live updates for a subscription.
func liveUpdates(in <-chan enterprises.Update, err error) (<-chan *EnterpriseLiveUpdate, error) {
	if err != nil {
		return nil, err
	}
	out := make(chan *EnterpriseLiveUpdate)
	go func() {
		defer close(out)
		for u := range in {
			lu := &EnterpriseLiveUpdate{Kind: u.Kind, ID: u.ID}
			if u.EnterpriseID != 0 {
				id := u.EnterpriseID
				lu.EnterpriseID = &id
			}
			out <- lu
		}
	}()
	return out, nil
}

// certificateBytes accepts a certificate as PEM text or as base64 DER.
func certificateBytes(s string) []byte {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		return []byte(s)
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b
	}
	return []byte(s)
}

// derefInt returns an optional Int's value, 0 when absent.
func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
