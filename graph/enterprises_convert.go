package graph

import (
	"time"

	"signet/accounts"
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
