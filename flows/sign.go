package flows

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/certs"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/enterprises"
	"signet/errs"
	"signet/jobs"
	"signet/signingcore/pades"
	"signet/sms"
	"signet/viewer"
)

// Certs gives the hosted signer of a certificate (package certs).
type Certs interface {
	// SignerOf checks a certificate row just read and gives its signer.
	SignerOf(ctx context.Context, c *ent.Certificate) (*certs.Signer, error)
	// SignerWith is SignerOf(row) when row is certificate certID (the
	// seal's, read with it: Seals), and Signer(certID) otherwise.
	SignerWith(ctx context.Context, certID int, row *ent.Certificate) (*certs.Signer, error)
}

// Seals decides whether a user may apply a seal (package enterprises: the
// owner of a personal seal; an administrator, or a member with a valid
// grant, for an enterprise seal).
type Seals interface {
	// UsableSeal returns the seal when the user may apply it in the scope,
	// as enterprises.SealForSigning reads it (its certificate with it).
	UsableSeal(ctx context.Context, userID, sealID int, sc enterprises.Scope) (*ent.Seal, error)
	// RecheckSeals checks the seals of signatures about to commit again, in
	// their transaction tx at time at: nil or the refusal for each check
	// (enterprises.RecheckSeals).
	RecheckSeals(ctx context.Context, tx *ent.Tx, at time.Time, checks []enterprises.SealCheck) ([]error, error)
}

// PurposeIntent is the SMS code purpose of 意愿认证.
const PurposeIntent accounts.Purpose = "sign_intent"

// Placement is a seal the signer places where the initiator set no position.
type Placement struct {
	DocumentID    int
	Kind          signfield.Kind
	Page          int
	X, Y          float64
	Width, Height float64
}

// SignInput is one signer's signature on a flow (DOC-3).
type SignInput struct {
	FlowID int
	// PersonalSealID is applied to personal-seal and handwriting fields,
	// EnterpriseSealID to enterprise-seal fields.
	PersonalSealID   int
	EnterpriseSealID int
	// Placements are the signer's own positions (拖动盖章).
	Placements []Placement
	// Code is the 意愿认证 code; SendIntentCode sends it.
	Code string
}

// signPlan is what a signature will apply, checked and resolved.
type signPlan struct {
	flow   *ent.Flow
	part   *ent.Participant
	docs   []*ent.FlowDocument
	fields []*ent.SignField // existing fields plus placements (ID 0)
	seals  map[signfield.Kind]*ent.Seal
	// counterparties names the flow's other signers (a seal grant may be
	// limited to some).
	counterparties []string
	scope          string
	fingerp        string
	// ukeys names the UKey certificates (fingerprints) that signed, for
	// the trail (set by the UKey path, ukeysign.go); beforeCommit runs
	// first in the committing transaction (it uses up the intent code, or
	// the UKey path's pending signature).
	ukeys        []string
	beforeCommit func(ctx context.Context, tx *ent.Tx) error
	// claim is the intent code checked by Sign, used up in the commit.
	claim *accounts.CodeClaim
	// issued is the intent code SendIntentCode issued for this plan, kept
	// with it (intentplan.go): Sign checks the code typed against it in
	// memory, and reads the code's row only when it cannot tell.
	issued accounts.IssuedCode
	// signedWith maps each seal to the certificate whose key signed with
	// it, when that is the seal's own; the commit checks the seals and
	// those certificates again (enterprises.RecheckSeals).
	signedWith map[int]int
}

// signedBy records that the key of certificate certID signed with seal
// sealID.
func (p *signPlan) signedBy(sealID, certID int) {
	if p.signedWith == nil {
		p.signedWith = map[int]int{}
	}
	p.signedWith[sealID] = certID
}

// signedPayload is the participant.signed event's payload.
func (p *signPlan) signedPayload(seals []int) map[string]any {
	m := map[string]any{"name": p.part.Name, "seals": seals, "intentScope": p.scope}
	if len(p.ukeys) > 0 {
		m["ukeyCertificates"] = p.ukeys
	}
	return m
}

// plan checks that the viewer may sign the flow now with these seals and
// positions, and binds it all into the intent scope.
func (s *Service) plan(ctx context.Context, in SignInput) (*signPlan, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if s.pades == nil || s.certs == nil || s.seals == nil {
		return nil, errs.New(errs.Internal, "签署服务未配置")
	}
	sys := viewer.System(ctx)
	f, parts, err := s.readFlowParties(sys, in.FlowID)
	if ent.IsNotFound(err) {
		return nil, notFound()
	}
	if err != nil {
		return nil, err
	}
	var p *ent.Participant
	involved := f.InitiatorID == v.UserID
	for _, x := range parts {
		if isMine(x, v) {
			involved = true
			if x.Role == participant.RoleSigner && (p == nil || x.Status == participant.StatusPending) {
				p = x
			}
		}
	}
	switch {
	case !involved:
		return nil, notFound()
	case p == nil:
		return nil, errs.New(errs.Forbidden, "您不是该合同的签署方")
	}
	if err := s.signable(f, p); err != nil {
		return nil, err
	}
	if HasPasscode(f) && p.PasscodeVerifiedAt == nil {
		return nil, errs.New(errs.Forbidden, "请先输入签署口令")
	}
	docs, fields, err := s.readDocsFields(sys, f.ID, p.ID)
	if err != nil {
		return nil, err
	}
	byDoc := map[int]*ent.FlowDocument{}
	for _, d := range docs {
		byDoc[d.ID] = d
	}
	for i, pl := range in.Placements {
		field := fmt.Sprintf("placements.%d", i)
		d, ok := byDoc[pl.DocumentID]
		if !ok {
			return nil, errs.InvalidField(field+".documentId", "盖章位置所在的文件不属于该合同")
		}
		if pl.Kind == signfield.KindEnterpriseSeal && p.Kind != participant.KindEnterprise {
			return nil, errs.InvalidField(field+".kind", "个人签署方不能加盖企业印章")
		}
		if pl.Kind == signfield.KindDate || pl.Kind == "" {
			return nil, errs.InvalidField(field+".kind", "请选择印章类型")
		}
		if err := checkRect(field, d.Pages, pl.Page, pl.X, pl.Y, pl.Width, pl.Height); err != nil {
			return nil, err
		}
		fields = append(fields, &ent.SignField{FlowID: f.ID, DocumentID: d.ID, Kind: pl.Kind, Page: pl.Page,
			X: pl.X, Y: pl.Y, Width: pl.Width, Height: pl.Height, PlacedBySigner: true})
	}
	if len(fields) == 0 {
		return nil, errs.InvalidField("placements", "请先在合同上放置印章或签名")
	}
	if len(fields) > 50 {
		return nil, errs.InvalidField("placements", "一次最多加盖50个印章")
	}
	plan := &signPlan{flow: f, part: p, docs: docs, fields: fields}
	for _, x := range parts {
		if x.ID != p.ID && x.Role == participant.RoleSigner {
			plan.counterparties = append(plan.counterparties, partyName(x))
		}
	}
	if err := s.planSeals(ctx, plan, in); err != nil {
		return nil, err
	}
	// The intent code is bound to this participant, the content of every
	// document as sent (frozen, hashed once) and exactly these fields and
	// seals. Not to the current revision: in a parallel flow another party's
	// signature — an incremental update that only adds theirs, checked when
	// it was made — would void a code the signer is about to type.
	h := sha256.New()
	for _, d := range docs {
		fmt.Fprintf(h, "doc %d %s\n", d.ID, d.OriginalSha256)
	}
	fp := hex.EncodeToString(h.Sum(nil))
	var lines []string
	for _, fd := range fields {
		lines = append(lines, fmt.Sprintf("%d %s %d %.2f %.2f %.2f %.2f %d", fd.DocumentID, fd.Kind, fd.Page, fd.X, fd.Y, fd.Width, fd.Height, plan.seals[fd.Kind].ID))
	}
	sort.Strings(lines)
	fh := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	plan.fingerp = fp[:8]
	plan.scope = fmt.Sprintf("f%d:p%d:%s:%s", f.ID, p.ID, fp[:16], hex.EncodeToString(fh[:8]))
	return plan, nil
}

// planSeals checks, as the viewer, the seals in asks for the plan's fields
// and puts them in the plan (the seal with its certificate, as read now).
func (s *Service) planSeals(ctx context.Context, plan *signPlan, in SignInput) error {
	v := viewer.FromContext(ctx)
	plan.seals = map[signfield.Kind]*ent.Seal{}
	sc := enterprises.Scope{Scene: string(plan.flow.Scene), Counterparties: plan.counterparties, At: s.now()}
	for _, fd := range plan.fields {
		if _, done := plan.seals[fd.Kind]; done {
			continue
		}
		id := in.PersonalSealID
		if fd.Kind == signfield.KindEnterpriseSeal {
			id = in.EnterpriseSealID
		}
		sl, err := s.sealFor(ctx, v, plan.part, fd.Kind, id, sc)
		if err != nil {
			return err
		}
		plan.seals[fd.Kind] = sl
	}
	return nil
}

// signable says why participant p cannot sign flow f now, or nil.
func (s *Service) signable(f *ent.Flow, p *ent.Participant) error {
	switch {
	case f.Status != flow.StatusSigning:
		return errs.New(errs.Conflict, "合同"+statusLabel(f.Status)+"，不能签署")
	case f.Deadline != nil && !s.now().Before(*f.Deadline):
		return errs.New(errs.Conflict, "合同已过签署截止时间，不能签署")
	case p.Status == participant.StatusSigned:
		return errs.New(errs.Conflict, "您已签署该合同")
	case p.Status == participant.StatusDeclined:
		return errs.New(errs.Conflict, "您已拒签该合同")
	case p.Status != participant.StatusPending:
		return errs.New(errs.Conflict, "还未轮到您签署，请等待前序签署方完成")
	}
	return nil
}

// notSignable reads, in the committing transaction, why a signature that
// was planned can no longer be committed (the flow ended or the
// participant signed meanwhile).
func (s *Service) notSignable(ctx context.Context, tx *ent.Tx, flowID, partID int) error {
	sys := viewer.System(ctx)
	f, err := tx.Flow.Get(sys, flowID)
	if err != nil {
		return err
	}
	p, err := tx.Participant.Get(sys, partID)
	if err != nil {
		return err
	}
	if err := s.signable(f, p); err != nil {
		return err
	}
	return errs.New(errs.Conflict, "合同状态已变化，请刷新后重试")
}

// sealFor checks that the viewer may apply seal id to a field of kind for p.
func (s *Service) sealFor(ctx context.Context, v viewer.Viewer, p *ent.Participant, kind signfield.Kind, id int, sc enterprises.Scope) (*ent.Seal, error) {
	field := "personalSealId"
	if kind == signfield.KindEnterpriseSeal {
		field = "enterpriseSealId"
	}
	if id == 0 {
		if kind == signfield.KindEnterpriseSeal {
			return nil, errs.InvalidField(field, "请选择企业印章")
		}
		return nil, errs.InvalidField(field, "请选择个人签名或印章")
	}
	sl, err := s.seals.UsableSeal(ctx, v.UserID, id, sc)
	if err != nil {
		return nil, err
	}
	switch kind {
	case signfield.KindEnterpriseSeal:
		if sl.EnterpriseID == nil {
			return nil, errs.InvalidField(field, "企业签署位置须加盖企业印章")
		}
		if sl.Kind == entseal.KindLegalRep {
			return nil, errs.InvalidField(field, "法定代表人章不能代替企业印章")
		}
		e, err := s.db.Enterprise.Get(viewer.System(ctx), *sl.EnterpriseID)
		if err != nil && !ent.IsNotFound(err) {
			return nil, err
		}
		if e == nil || e.Name != p.EnterpriseName {
			return nil, errs.New(errs.Forbidden, "该印章不属于签署企业“"+p.EnterpriseName+"”")
		}
	default:
		if sl.EnterpriseID != nil || sl.UserID == nil || *sl.UserID != v.UserID {
			return nil, errs.InvalidField(field, "个人签署位置须使用本人的签名或印章")
		}
	}
	return sl, nil
}

// SendIntentCode sends the 意愿认证 code for exactly this signature: the SMS
// names the contract and a short fingerprint of the documents as they are.
func (s *Service) SendIntentCode(ctx context.Context, in SignInput) (accounts.SentCode, string, error) {
	plan, err := s.plan(ctx, in)
	if err != nil {
		return accounts.SentCode{}, "", err
	}
	sent, err := s.acc.IssueCode(ctx, accounts.CodeRequest{Phone: plan.part.Phone, Purpose: PurposeIntent, Scope: plan.scope,
		Template: sms.TemplateSignIntent, Params: map[string]string{"contract": plan.flow.Name, "fingerprint": plan.fingerp}})
	if err != nil {
		return sent, plan.fingerp, err
	}
	// Sign takes the plan back, with its code (intentplan.go).
	plan.issued = sent.Issued
	s.intents.keep(viewer.FromContext(ctx), in, plan, s.now(), sent.ExpiresAt)
	return sent, plan.fingerp, nil
}

// VerifyPasscode checks the flow's signing passcode (签署口令) for the
// viewer; five wrong tries lock it for them.
func (s *Service) VerifyPasscode(ctx context.Context, flowID int, passcode string) error {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return errs.New(errs.Unauthenticated, "请先登录")
	}
	sys := viewer.System(ctx)
	f, err := s.db.Flow.Get(sys, flowID)
	if ent.IsNotFound(err) {
		return notFound()
	}
	if err != nil {
		return err
	}
	p, err := s.db.Participant.Query().Where(participant.FlowID(f.ID), mine(v)).
		Order(ent.Asc(participant.FieldRole)).First(sys)
	if ent.IsNotFound(err) {
		return notFound()
	}
	if err != nil {
		return err
	}
	if !HasPasscode(f) || p.PasscodeVerifiedAt != nil {
		return nil
	}
	if p.PasscodeFailures >= 5 {
		return errs.New(errs.RateLimited, "签署口令错误次数过多，请联系发起方")
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("signet-passcode:%d:%s", f.ID, strings.TrimSpace(passcode))))
	if subtle.ConstantTimeCompare(sum[:], *f.PasscodeHash) != 1 {
		if err := s.db.Participant.UpdateOne(p).AddPasscodeFailures(1).Exec(sys); err != nil {
			return err
		}
		return errs.InvalidField("passcode", fmt.Sprintf("签署口令错误，还可尝试%d次", 4-p.PasscodeFailures))
	}
	return s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		trail, err := lockFirst(ctx, tx, f.ID)
		if err != nil {
			return err
		}
		// Every row of the viewer in this flow (signer and CC alike) is cleared.
		if _, err := tx.Participant.Update().Where(participant.FlowID(f.ID), mine(v)).SetPasscodeVerifiedAt(s.now()).Save(sys); err != nil {
			return err
		}
		_, err = trail.Append(ctx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
			Action: audit.ParticipantPasscodeOK, Subject: audit.Subject{Type: "participant", ID: p.ID}})
		s.announce(tx, f, audit.ParticipantPasscodeOK, p.ID)
		return err
	})
}

// claimIntent checks the intent code typed for plan. A plan kept from
// SendIntentCode holds the code it issued: checked in memory, and by the
// statement that uses it up for what memory cannot know (a newer code,
// too many wrong tries elsewhere; accounts.ClaimIssued). Otherwise, or when
// memory cannot tell, the code's row is read (CheckCode counts a wrong try).
func (s *Service) claimIntent(ctx context.Context, plan *signPlan, code string) (accounts.CodeClaim, error) {
	if claim, ok := s.acc.ClaimIssued("code", plan.issued, code); ok {
		return claim, nil
	}
	return s.acc.CheckCode(ctx, "code", plan.part.Phone, PurposeIntent, plan.scope, code)
}

// errRevisionMoved means another signer changed a document meanwhile.
var errRevisionMoved = errors.New("document revision moved")

// Sign applies the viewer's seals to their fields and signs every document
// they appear in with the certificate behind each seal (PAdES B-T), after
// checking the intent code. When all have signed the flow completes;
// otherwise the next signers are notified. Parallel signers of one document
// never break each other: each revision is committed only if the document
// did not move meanwhile, and otherwise signed again on the new revision.
func (s *Service) Sign(ctx context.Context, in SignInput) (*ent.Flow, error) {
	plan, err := s.planAgain(ctx, in)
	if err != nil {
		return nil, err
	}
	// The intent code is checked now and used up in the commit: a request
	// that fails before it leaves the code usable, and of two requests with
	// one code only one commits (commitSigned rolls the other back).
	claim, err := s.claimIntent(ctx, plan, in.Code)
	if err != nil {
		return nil, err
	}
	plan.claim = &claim
	signers := map[int]*certs.Signer{}
	for _, sl := range plan.seals {
		if sl.CertificateID == nil {
			return nil, errs.New(errs.Forbidden, "印章未绑定证书，不能使用")
		}
		if _, ok := signers[sl.ID]; ok {
			continue
		}
		sg, err := s.certs.SignerWith(ctx, *sl.CertificateID, sl.Edges.Certificate)
		if err != nil {
			return nil, err
		}
		signers[sl.ID] = sg
	}
	return s.execute(ctx, plan, signers)
}

// execute signs a checked plan whose intent code was consumed: every
// document on its current revision, committed in one transaction or not at
// all, signed again on the new revision when another signer moved it.
func (s *Service) execute(ctx context.Context, plan *signPlan, signers map[int]*certs.Signer) (*ent.Flow, error) {
	s.group.signing.Add(1) // a group's leader waits for it (commit.go)
	defer s.group.signing.Add(-1)
	var (
		done committed
		err  error
	)
	for attempt := 0; ; attempt++ {
		done, err = s.signOnce(ctx, plan, signers)
		if !errors.Is(err, errRevisionMoved) || attempt == 4 {
			break
		}
		docs, rerr := s.db.FlowDocument.Query().Where(flowdocument.FlowID(plan.flow.ID)).Order(ent.Asc(flowdocument.FieldPosition)).All(viewer.System(ctx))
		if rerr != nil {
			return nil, rerr
		}
		plan.docs = docs
	}
	if errors.Is(err, errRevisionMoved) {
		return nil, errs.New(errs.Conflict, "合同正在被其他签署方签署，请稍后重试")
	}
	if err != nil {
		return nil, err
	}
	// The answer is the flow as the plan read it (the viewer's involvement
	// checked there) with what this commit changed: a signature changes the
	// flow's row only when it completes the flow (its updated_at aside).
	f := *plan.flow
	if done.completed {
		f.Status, f.FinishedAt = flow.StatusCompleted, &done.at
	}
	return &f, nil
}

// signOnce signs every document on its current revision and commits all of
// it in one transaction, or nothing.
func (s *Service) signOnce(ctx context.Context, plan *signPlan, signers map[int]*certs.Signer) (committed, error) {
	var results []signedDoc
	now := s.now()
	for _, d := range plan.docs {
		var mine []*ent.SignField
		for _, fd := range plan.fields {
			if fd.DocumentID == d.ID {
				mine = append(mine, fd)
			}
		}
		if len(mine) == 0 {
			continue
		}
		pdf, err := s.getPDF(ctx, d.CurrentKey)
		if err != nil {
			return committed{}, fmt.Errorf("sign: read document: %w", err)
		}
		for i, fd := range mine {
			sl := plan.seals[fd.Kind]
			sg := signers[sl.ID]
			plan.signedBy(sl.ID, sg.CertificateID)
			req := pades.Request{
				FieldName:         fmt.Sprintf("Signet-P%d-R%d-%d", plan.part.ID, d.Revision, i+1),
				Page:              fd.Page,
				Rect:              pades.Rect{fd.X, fd.Y, fd.X + fd.Width, fd.Y + fd.Height},
				Appearance:        sl.Image,
				EncodedAppearance: sl.Appearance,
				Chain:             append([]*x509.Certificate{sg.Certificate}, sg.Chain...),
				Name:              partyName(plan.part),
				Reason:            "签署《" + plan.flow.Name + "》",
				Location:          "签网",
				SigningTime:       now,
			}
			pdf, err = s.pades.Sign(ctx, pdf, req, sg.Key, s.tsa)
			if err != nil {
				return committed{}, fmt.Errorf("sign %s: %w", d.Name, err)
			}
		}
		results = append(results, signedDoc{doc: d, pdf: pdf, adds: len(mine)})
	}
	return s.commitSigned(ctx, plan, results)
}

// signedDoc is one document signed by a participant, ready to commit: its
// row as read before signing (the revision signed on), the new revision and
// the number of signatures added. The revision is either pdf, staged in the
// commit, or already stored under key with SHA-256 sum (the UKey path).
type signedDoc struct {
	doc      *ent.FlowDocument
	pdf      []byte
	key, sum string
	adds     int
}

// Decline (拒签) ends the flow with the signer's reason.
func (s *Service) Decline(ctx context.Context, flowID int, reason string) (*ent.Flow, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if n := len([]rune(strings.TrimSpace(reason))); n == 0 || n > 200 {
		return nil, errs.InvalidField("reason", "请填写拒签原因（200字以内）")
	}
	err := s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		sys := viewer.System(ctx)
		trail, err := lockFirst(ctx, tx, flowID)
		if err != nil {
			return err
		}
		f, err := tx.Flow.Get(sys, flowID)
		if ent.IsNotFound(err) {
			return notFound()
		}
		if err != nil {
			return err
		}
		p, err := tx.Participant.Query().Where(participant.FlowID(f.ID), mine(v), participant.RoleEQ(participant.RoleSigner)).First(sys)
		if ent.IsNotFound(err) {
			return notFound()
		}
		if err != nil {
			return err
		}
		if f.Status != flow.StatusSigning {
			return errs.New(errs.Conflict, "合同"+statusLabel(f.Status)+"，不能拒签")
		}
		if p.Status == participant.StatusSigned {
			return errs.New(errs.Conflict, "您已签署该合同，不能拒签")
		}
		now := s.now()
		// Guarded: a signature of this participant committed since the read
		// above (PostgreSQL, another request) must not turn into a refusal.
		if n, err := tx.Participant.Update().Where(participant.ID(p.ID), participant.StatusNotIn(participant.StatusSigned, participant.StatusDeclined)).
			SetStatus(participant.StatusDeclined).SetDeclinedAt(now).SetDeclineReason(reason).Save(sys); err != nil || n == 0 {
			if err == nil {
				err = errs.New(errs.Conflict, "您已签署该合同，不能拒签")
			}
			return err
		}
		if n, err := tx.Flow.Update().Where(flow.ID(f.ID), flow.StatusEQ(flow.StatusSigning)).
			SetStatus(flow.StatusDeclined).SetFinishedAt(now).SetEndReason(reason).Save(sys); err != nil || n == 0 {
			if err == nil {
				err = errs.New(errs.Conflict, "合同状态已变化，请刷新后重试")
			}
			return err
		}
		_, err = trail.Append(ctx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
			Action: audit.ParticipantDeclined, Subject: audit.Subject{Type: "participant", ID: p.ID},
			Payload: map[string]any{"reason": reason}})
		s.announce(tx, f, audit.ParticipantDeclined, p.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, flowID)
}

// isMine reports whether a participant row is the viewer's.
func isMine(p *ent.Participant, v viewer.Viewer) bool {
	if p.UserID != nil {
		return *p.UserID == v.UserID
	}
	return v.Phone != "" && p.Phone == v.Phone
}

// partyName is how a party is named in signatures and scopes.
func partyName(p *ent.Participant) string {
	if p.Kind == participant.KindEnterprise && p.EnterpriseName != "" {
		return p.EnterpriseName
	}
	return p.Name
}

func statusLabel(st flow.Status) string {
	switch st {
	case flow.StatusDraft:
		return "尚未发起"
	case flow.StatusCompleted:
		return "已完成"
	case flow.StatusRevoked:
		return "已撤销"
	case flow.StatusDeclined:
		return "已被拒签"
	case flow.StatusExpired:
		return "已过期"
	}
	return "签署中"
}

// HasPasscode reports whether the flow has a signing passcode (签署口令).
func HasPasscode(f *ent.Flow) bool { return f.PasscodeHash != nil && len(*f.PasscodeHash) > 0 }
