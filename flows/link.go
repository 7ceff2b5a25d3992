package flows

import (
	"context"
	"fmt"
	"strconv"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/participant"
	"signet/ent/signinglink"
	"signet/errs"
	"signet/jobs"
	"signet/sms"
	"signet/viewer"
)

// PurposeLink is the SMS code purpose that proves a signing link's phone.
const PurposeLink accounts.Purpose = "sign_link"

// LinkInfo is what the H5 landing page of /s/{code} may show before the
// phone is proven: enough to recognise the request, nothing more.
type LinkInfo struct {
	FlowName    string
	Initiator   string // masked phone or name
	MaskedPhone string
	Status      string // the flow's status
}

// Link resolves a signing link code. An unknown code is NotFound.
func (s *Service) Link(ctx context.Context, code string) (LinkInfo, error) {
	p, f, err := s.linkParticipant(ctx, code)
	if err != nil {
		return LinkInfo{}, err
	}
	ini, err := f.QueryInitiator().Only(viewer.System(ctx))
	if err != nil {
		return LinkInfo{}, err
	}
	name := ini.Name
	if name == "" {
		name = accounts.MaskPhone(ini.Phone)
	}
	return LinkInfo{FlowName: f.Name, Initiator: name, MaskedPhone: accounts.MaskPhone(p.Phone), Status: string(f.Status)}, nil
}

func (s *Service) linkParticipant(ctx context.Context, code string) (*ent.Participant, *ent.Flow, error) {
	sys := viewer.System(ctx)
	l, err := s.db.SigningLink.Query().Where(signinglink.Code(code)).WithParticipant(func(q *ent.ParticipantQuery) { q.WithFlow() }).Only(sys)
	if ent.IsNotFound(err) || len(code) > 16 {
		return nil, nil, errs.New(errs.NotFound, "签署链接无效，请核对短信中的链接")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("link: %w", err)
	}
	p := l.Edges.Participant
	return p, p.Edges.Flow, nil
}

// SendLinkCode sends the code that proves the link's phone.
func (s *Service) SendLinkCode(ctx context.Context, code string) (accounts.SentCode, error) {
	p, _, err := s.linkParticipant(ctx, code)
	if err != nil {
		return accounts.SentCode{}, err
	}
	return s.acc.IssueCode(ctx, accounts.CodeRequest{Phone: p.Phone, Purpose: PurposeLink,
		Scope: "participant:" + strconv.Itoa(p.ID), Template: sms.TemplateGeneric})
}

// OpenLink proves the link's phone with its code and logs the phone's
// owner in (creating the account on first use, with the agreements the page
// showed). The participant is bound to the user. It returns the login and
// the flow to open.
func (s *Service) OpenLink(ctx context.Context, code, smsCode, serviceAgreementVersion, privacyStatementVersion string) (accounts.AuthResult, int, error) {
	p, f, err := s.linkParticipant(ctx, code)
	if err != nil {
		return accounts.AuthResult{}, 0, err
	}
	if err := s.acc.ConsumeCode(ctx, "code", p.Phone, PurposeLink, "participant:"+strconv.Itoa(p.ID), smsCode); err != nil {
		return accounts.AuthResult{}, 0, err
	}
	res, err := s.acc.SignInProvenPhone(ctx, p.Phone, serviceAgreementVersion, privacyStatementVersion)
	if err != nil {
		return accounts.AuthResult{}, 0, err
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		sys := viewer.System(ctx)
		trail, err := lockFirst(ctx, tx, f.ID)
		if err != nil {
			return err
		}
		if _, err := tx.Participant.Update().Where(participant.ID(p.ID), participant.UserIDIsNil()).
			SetUserID(res.User.ID).Save(sys); err != nil {
			return err
		}
		_, err = trail.Append(ctx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: audit.Participant(p.ID, p.Name),
			Action: audit.ParticipantPhoneVerified, Subject: audit.Subject{Type: "participant", ID: p.ID}})
		s.announce(tx, f, audit.ParticipantPhoneVerified, p.ID)
		return err
	})
	if err != nil {
		return accounts.AuthResult{}, 0, err
	}
	return res, f.ID, nil
}
