package flows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/ent/privacy"
	"signet/ent/schema/pdftypes"
	"signet/ent/signfield"
	"signet/errs"
	"signet/jobs"
	"signet/signingcore/pdfnorm"
	"signet/viewer"
)

// DraftInput is the editable part of a draft. Participants and Fields
// replace what the draft had; nil leaves them unchanged.
type DraftInput struct {
	Name    string
	Scene   flow.Scene
	Ordered bool
	// Deadline is when signing must be done; nil for none.
	Deadline *time.Time
	// Passcode sets the signing passcode (签署口令); nil leaves it, "" clears it.
	Passcode     *string
	Participants []ParticipantInput
	Fields       []FieldInput
}

// ParticipantInput is one party. Key names it for fields in the same input.
type ParticipantInput struct {
	Key            string
	Role           participant.Role
	Kind           participant.Kind
	Order          int
	Name           string
	Phone          string
	Email          string
	EnterpriseName string
}

// FieldInput places a seal, signature or date for a participant (by Key) on
// a document page, in PDF points from the page's lower-left corner.
type FieldInput struct {
	DocumentID     int
	ParticipantKey string
	Kind           signfield.Kind
	Page           int
	X, Y           float64
	Width, Height  float64
}

// CreateDraft starts a draft (草稿) owned by the viewer.
func (s *Service) CreateDraft(ctx context.Context, in DraftInput) (*ent.Flow, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if err := checkName("name", in.Name, "任务名称"); err != nil {
		return nil, err
	}
	// A task number is random; when one is taken already (the unique
	// index refuses it), the draft is created again with another.
	var out *ent.Flow
	for attempt := 1; ; attempt++ {
		number, err := s.newNumber()
		if err != nil {
			return nil, err
		}
		out, err = s.createDraft(ctx, in, number)
		if err == nil {
			break
		}
		if !ent.IsConstraintError(err) {
			return nil, err
		}
		taken, qerr := s.db.Flow.Query().Where(flow.Number(number)).Exist(viewer.System(ctx))
		if qerr != nil || !taken {
			return nil, err
		}
		if attempt == numberAttempts {
			return nil, errs.New(errs.Conflict, "任务编号生成冲突，请重试")
		}
	}
	return s.reload(ctx, out.ID)
}

// numberAttempts bounds how many task numbers CreateDraft tries.
const numberAttempts = 5

// createDraft creates the viewer's draft numbered number, in one
// transaction.
func (s *Service) createDraft(ctx context.Context, in DraftInput, number string) (*ent.Flow, error) {
	v := viewer.FromContext(ctx)
	var out *ent.Flow
	err := s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		scene := in.Scene
		if scene == "" {
			scene = flow.SceneGeneral
		}
		name, err := s.displayName(ctx, tx.Client(), v.UserID)
		if err != nil {
			return err
		}
		f, err := tx.Flow.Create().SetNumber(number).SetName(strings.TrimSpace(in.Name)).
			SetScene(scene).SetOrdered(in.Ordered).SetInitiatorID(v.UserID).SetInitiatorName(name).Save(sys)
		if err != nil {
			return fmt.Errorf("create flow: %w", err)
		}
		if err := s.applyDraft(ctx, tx, f, in, true); err != nil {
			return err
		}
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
			Action: audit.FlowCreated, Subject: audit.Subject{Type: "flow", ID: f.ID},
			Payload: map[string]any{"number": f.Number, "name": f.Name}}); err != nil {
			return err
		}
		s.announce(tx, f, audit.FlowCreated, f.ID)
		out = f
		return nil
	})
	return out, err
}

// UpdateDraft edits a draft of the viewer's.
func (s *Service) UpdateDraft(ctx context.Context, id int, in DraftInput) (*ent.Flow, error) {
	err := s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		f, err := s.ownDraft(ctx, tx.Flow, id)
		if err != nil {
			return err
		}
		if err := checkName("name", in.Name, "任务名称"); err != nil {
			return err
		}
		scene := in.Scene
		if scene == "" {
			scene = f.Scene
		}
		upd := tx.Flow.UpdateOne(f).SetName(strings.TrimSpace(in.Name)).SetScene(scene).SetOrdered(in.Ordered)
		if err := upd.Exec(viewer.System(ctx)); err != nil {
			return fmt.Errorf("update flow: %w", err)
		}
		if err := s.applyDraft(ctx, tx, f, in, false); err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
			Action: audit.FlowUpdated, Subject: audit.Subject{Type: "flow", ID: f.ID}})
		s.announce(tx, f, audit.FlowUpdated, f.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, id)
}

// applyDraft writes deadline, passcode, participants and fields.
func (s *Service) applyDraft(ctx context.Context, tx *ent.Tx, f *ent.Flow, in DraftInput, creating bool) error {
	sys := viewer.System(ctx)
	upd := tx.Flow.UpdateOne(f)
	if in.Deadline != nil {
		if !in.Deadline.After(s.now()) {
			return errs.InvalidField("deadline", "签署截止时间须晚于当前时间")
		}
		upd.SetDeadline(*in.Deadline)
	} else {
		upd.ClearDeadline()
	}
	if in.Passcode != nil {
		switch p := strings.TrimSpace(*in.Passcode); {
		case p == "":
			upd.ClearPasscodeHash()
		case len(p) < 4 || len(p) > 12:
			return errs.InvalidField("passcode", "签署口令须为4-12位")
		default:
			sum := sha256.Sum256([]byte(fmt.Sprintf("signet-passcode:%d:%s", f.ID, p)))
			upd.SetPasscodeHash(sum[:])
		}
	}
	if err := upd.Exec(sys); err != nil {
		return fmt.Errorf("update flow: %w", err)
	}
	if in.Participants == nil && !creating {
		if in.Fields != nil {
			return errs.InvalidField("fields", "修改签署位置时须同时提交签署方")
		}
		return nil
	}
	if len(in.Participants) > s.limits.MaxParticipants {
		return errs.InvalidField("participants", fmt.Sprintf("签署方最多%d个", s.limits.MaxParticipants))
	}
	if len(in.Fields) > s.limits.MaxFields {
		return errs.InvalidField("fields", fmt.Sprintf("签署位置最多%d个", s.limits.MaxFields))
	}
	if _, err := tx.SignField.Delete().Where(signfield.FlowID(f.ID)).Exec(sys); err != nil {
		return fmt.Errorf("clear fields: %w", err)
	}
	if _, err := tx.Participant.Delete().Where(participant.FlowID(f.ID)).Exec(sys); err != nil {
		return fmt.Errorf("clear participants: %w", err)
	}
	keys := map[string]*ent.Participant{}
	for i, p := range in.Participants {
		field := fmt.Sprintf("participants.%d", i)
		if p.Key == "" {
			p.Key = fmt.Sprint(i)
		}
		if _, dup := keys[p.Key]; dup {
			return errs.InvalidField(field, "签署方标识重复")
		}
		if err := checkName(field+".name", p.Name, "姓名"); err != nil {
			return err
		}
		phone, err := accounts.NormalizePhone(field+".phone", p.Phone)
		if err != nil {
			return err
		}
		role, kind := p.Role, p.Kind
		if role == "" {
			role = participant.RoleSigner
		}
		if kind == "" {
			kind = participant.KindPerson
		}
		if kind == participant.KindEnterprise {
			if err := checkName(field+".enterpriseName", p.EnterpriseName, "企业名称"); err != nil {
				return err
			}
		}
		order := p.Order
		if order <= 0 {
			order = 1
		}
		row, err := tx.Participant.Create().SetFlowID(f.ID).SetRole(role).SetKind(kind).SetSignOrder(order).
			SetName(strings.TrimSpace(p.Name)).SetPhone(phone).SetEmail(strings.TrimSpace(p.Email)).
			SetEnterpriseName(strings.TrimSpace(p.EnterpriseName)).Save(sys)
		if err != nil {
			return fmt.Errorf("add participant: %w", err)
		}
		keys[p.Key] = row
	}
	docs, err := tx.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).All(sys)
	if err != nil {
		return fmt.Errorf("documents: %w", err)
	}
	byID := map[int]*ent.FlowDocument{}
	for _, d := range docs {
		byID[d.ID] = d
	}
	for i, fi := range in.Fields {
		field := fmt.Sprintf("fields.%d", i)
		d, ok := byID[fi.DocumentID]
		if !ok {
			return errs.InvalidField(field+".documentId", "签署位置所在的文件不属于该合同")
		}
		p, ok := keys[fi.ParticipantKey]
		if !ok {
			return errs.InvalidField(field+".participantKey", "签署位置没有对应的签署方")
		}
		if p.Role != participant.RoleSigner {
			return errs.InvalidField(field+".participantKey", "抄送人不需要签署位置")
		}
		if fi.Kind == signfield.KindEnterpriseSeal && p.Kind != participant.KindEnterprise {
			return errs.InvalidField(field+".kind", "个人签署方不能加盖企业印章")
		}
		if err := checkRect(field, d.Pages, fi.Page, fi.X, fi.Y, fi.Width, fi.Height); err != nil {
			return err
		}
		kind := fi.Kind
		if kind == "" {
			kind = signfield.KindPersonalSeal
		}
		err := tx.SignField.Create().SetFlowID(f.ID).SetDocumentID(d.ID).SetParticipantID(p.ID).
			SetKind(kind).SetPage(fi.Page).SetX(fi.X).SetY(fi.Y).SetWidth(fi.Width).SetHeight(fi.Height).Exec(sys)
		if err != nil {
			return fmt.Errorf("add field: %w", err)
		}
	}
	return nil
}

// checkRect checks that a field lies on an existing page.
func checkRect(field string, pages []pdftypes.PageSize, page int, x, y, w, h float64) error {
	if page < 1 || page > len(pages) {
		return errs.InvalidField(field+".page", fmt.Sprintf("页码须在1到%d之间", len(pages)))
	}
	ps := pages[page-1]
	if w < 10 || h < 10 || w > ps.Width || h > ps.Height {
		return errs.InvalidField(field, "签署位置的大小不正确")
	}
	if x < 0 || y < 0 || x+w > ps.Width+0.5 || y+h > ps.Height+0.5 {
		return errs.InvalidField(field, "签署位置超出了页面范围")
	}
	return nil
}

// AddDocument normalises an uploaded PDF, keeps the frozen original and
// adds it to the viewer's draft.
func (s *Service) AddDocument(ctx context.Context, flowID int, name string, r io.Reader) (*ent.FlowDocument, error) {
	if _, err := s.ownDraft(ctx, s.db.Flow, flowID); err != nil {
		return nil, err
	}
	name = strings.TrimSuffix(strings.TrimSpace(name), ".pdf")
	if err := checkName("name", name, "合同名称"); err != nil {
		return nil, err
	}
	doc, err := pdfnorm.Normalize(ctx, r, s.limits.Upload)
	if err != nil {
		return nil, err
	}
	key, _, err := s.putPDF(ctx, doc.PDF) // doc.SHA256 is the same sum
	if err != nil {
		return nil, fmt.Errorf("store document: %w", err)
	}
	pages := make([]pdftypes.PageSize, len(doc.Pages))
	for i, p := range doc.Pages {
		w, h := p.DisplaySize()
		pages[i] = pdftypes.PageSize{Width: w, Height: h}
	}
	sum := hex.EncodeToString(doc.SHA256[:])
	var out *ent.FlowDocument
	err = s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		f, err := s.ownDraft(ctx, tx.Flow, flowID)
		if err != nil {
			return err
		}
		sys := viewer.System(ctx)
		n, err := tx.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).Count(sys)
		if err != nil {
			return err
		}
		if n >= s.limits.MaxDocuments {
			return errs.InvalidField("file", fmt.Sprintf("每个合同最多%d个文件", s.limits.MaxDocuments))
		}
		out, err = tx.FlowDocument.Create().SetFlowID(f.ID).SetName(name).SetPosition(n).
			SetOriginalKey(key).SetOriginalSha256(sum).SetOriginalSize(int64(len(doc.PDF))).SetPages(pages).
			SetCurrentKey(key).SetCurrentSha256(sum).Save(sys)
		if err != nil {
			return fmt.Errorf("add document: %w", err)
		}
		_, err = audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
			Action: audit.FlowDocumentAdded, Subject: audit.Subject{Type: "document", ID: out.ID},
			Payload: map[string]any{"name": name, "sha256": sum, "pages": len(pages)}})
		s.announce(tx, f, audit.FlowDocumentAdded, out.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out.Unwrap(), nil
}

// RemoveDocument removes a document (and its fields) from a draft.
func (s *Service) RemoveDocument(ctx context.Context, documentID int) error {
	return s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		d, err := tx.FlowDocument.Get(sys, documentID)
		if ent.IsNotFound(err) {
			return errs.New(errs.NotFound, "文件不存在")
		}
		if err != nil {
			return err
		}
		f, err := s.ownDraft(ctx, tx.Flow, d.FlowID)
		if err != nil {
			return err
		}
		if _, err := tx.SignField.Delete().Where(signfield.DocumentID(d.ID)).Exec(sys); err != nil {
			return err
		}
		if err := tx.FlowDocument.DeleteOne(d).Exec(sys); err != nil {
			return err
		}
		_, err = audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(d.FlowID), Actor: s.actor(ctx),
			Action: audit.FlowDocumentRemoved, Subject: audit.Subject{Type: "document", ID: d.ID},
			Payload: map[string]any{"name": d.Name}})
		s.announce(tx, f, audit.FlowDocumentRemoved, d.ID)
		return err
	})
}

// DocumentPDF returns the current revision of a document the viewer may see.
func (s *Service) DocumentPDF(ctx context.Context, documentID int) (*ent.FlowDocument, []byte, error) {
	d, err := s.db.FlowDocument.Get(ctx, documentID) // privacy: only visible flows
	if ent.IsNotFound(err) || errors.Is(err, privacy.Deny) {
		return nil, nil, errs.New(errs.NotFound, "文件不存在或无权查看")
	}
	if err != nil {
		return nil, nil, err
	}
	f, err := s.db.Flow.Get(viewer.System(ctx), d.FlowID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.requirePasscode(ctx, f); err != nil {
		return nil, nil, err
	}
	b, err := s.getPDF(ctx, d.CurrentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("read document: %w", err)
	}
	return d, b, nil
}

// ownDraft loads flow id when it is a draft of the viewer's.
func (s *Service) ownDraft(ctx context.Context, flows *ent.FlowClient, id int) (*ent.Flow, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	f, err := flows.Get(viewer.System(ctx), id)
	if ent.IsNotFound(err) {
		return nil, notFound()
	}
	if err != nil {
		return nil, fmt.Errorf("load flow: %w", err)
	}
	if f.InitiatorID != v.UserID {
		return nil, notFound()
	}
	if f.Status != flow.StatusDraft {
		return nil, errs.New(errs.Conflict, "合同已发起，不能再修改")
	}
	return f, nil
}

// checkName checks a required display name.
func checkName(field, name, label string) error {
	n := utf8.RuneCountInString(strings.TrimSpace(name))
	switch {
	case n == 0:
		return errs.InvalidField(field, "请填写"+label)
	case n > 100:
		return errs.InvalidField(field, label+"不能超过100个字")
	case strings.ContainsAny(name, "\x00\r\n"):
		return errs.InvalidField(field, label+"不能包含换行等控制字符")
	}
	return nil
}

// newNumber returns a task number like QS20261127-7K4M9PXA: the day in
// China and eight characters of an alphabet without look-alikes (no 0, 1,
// I or O), one of 32⁸ ≈ 1.1 × 10¹² a day. Among n flows of a day about
// n²/2.2 × 10¹² pairs share one (≈ 0.45 a day at 10⁶ flows a day, ≈ 5 × 10⁻⁵
// at 10⁴); the unique index catches each and CreateDraft takes another.
func (s *Service) newNumber() (string, error) {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ" // 32: a byte modulo it is uniform
	var b [8]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("task number: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "QS" + s.now().In(shanghai()).Format("20060102") + "-" + string(b[:]), nil
}

// reload returns the flow as the viewer sees it.
func (s *Service) reload(ctx context.Context, id int) (*ent.Flow, error) {
	f, err := s.db.Flow.Get(ctx, id)
	if ent.IsNotFound(err) || errors.Is(err, privacy.Deny) {
		return nil, notFound()
	}
	return f, err
}

// actor is the viewer as an audit actor.
func (s *Service) actor(ctx context.Context) audit.Actor {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return audit.System()
	}
	return audit.User(v.UserID, accounts.MaskPhone(v.Phone))
}

// shanghai is China Standard Time, for task numbers and messages.
func shanghai() *time.Location { return time.FixedZone("CST", 8*3600) }

// displayName is how a user appears to others: the verified name, or the
// masked phone.
func (s *Service) displayName(ctx context.Context, c *ent.Client, userID int) (string, error) {
	u, err := c.User.Get(viewer.System(ctx), userID)
	if err != nil {
		return "", fmt.Errorf("initiator: %w", err)
	}
	if u.Name != "" {
		return u.Name, nil
	}
	return accounts.MaskPhone(u.Phone), nil
}

// PasscodeVerified reports whether the viewer may read the flow's documents
// as far as the signing passcode (签署口令) is concerned: no passcode, the
// initiator, or a party who entered it.
func (s *Service) PasscodeVerified(ctx context.Context, f *ent.Flow) (bool, error) {
	v := viewer.FromContext(ctx)
	if !HasPasscode(f) || f.InitiatorID == v.UserID {
		return true, nil
	}
	n, err := s.db.Participant.Query().
		Where(participant.FlowID(f.ID), mine(v), participant.PasscodeVerifiedAtNotNil()).Count(viewer.System(ctx))
	if err != nil {
		return false, err
	}
	return n > 0, nil
}

// requirePasscode refuses the documents of a flow with a passcode to a party
// who has not entered it.
func (s *Service) requirePasscode(ctx context.Context, f *ent.Flow) error {
	ok, err := s.PasscodeVerified(ctx, f)
	if err != nil {
		return err
	}
	if !ok {
		return errs.New(errs.Forbidden, "该合同设置了签署口令，请先输入签署口令再查看")
	}
	return nil
}
