// Package contacts is a user's contacts (联系人管理, PRODUCT.md USR-2): people
// and enterprise handlers they send contracts to, in groups they name. Every
// contact and group belongs to one user, who alone sees and changes it (the
// ent privacy policy filters every query by owner; writes go through this
// package, which checks ownership and writes as the system).
//
// Parties who signed with the user are added automatically when a flow
// completes (AddCoSigners): each party adds every other signer party, and the
// initiator adds every party, one contact per phone and enterprise.
package contacts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"signet/accounts"
	"signet/ent"
	"signet/ent/contact"
	"signet/ent/contactgroup"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/ent/predicate"
	"signet/ent/user"
	"signet/errs"
	"signet/viewer"
)

// Limits on one user's address book.
const (
	MaxContacts = 5000
	MaxGroups   = 100
	// MaxBatch bounds the ids of one delete or group change.
	MaxBatch = 200
)

// Service implements contacts.
type Service struct {
	db *ent.Client
}

// New returns a Service on db.
func New(db *ent.Client) *Service { return &Service{db: db} }

// Input is a contact as the user edits it.
type Input struct {
	Name           string
	Phone          string
	Email          string
	EnterpriseName string
	// GroupIDs replaces the contact's groups; nil leaves them as they are.
	GroupIDs []int
}

// Filter narrows the contacts list.
type Filter struct {
	// Search matches name, phone, email or enterprise (case-insensitive,
	// part of the text).
	Search string
	// GroupID lists one group's members; 0 for all.
	GroupID int
}

func user0(ctx context.Context) (viewer.Viewer, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return v, errs.New(errs.Unauthenticated, "请先登录")
	}
	return v, nil
}

func contactNotFound() error { return errs.New(errs.NotFound, "联系人不存在") }
func groupNotFound() error   { return errs.New(errs.NotFound, "分组不存在") }

// Query returns the viewer's contacts matching f, for the caller to order
// and paginate. Errors: Unauthenticated; NotFound for a group that is not
// the viewer's.
func (s *Service) Query(ctx context.Context, f Filter) (*ent.ContactQuery, error) {
	v, err := user0(ctx)
	if err != nil {
		return nil, err
	}
	where := []predicate.Contact{contact.UserID(v.UserID)}
	if f.GroupID != 0 {
		if _, err := s.ownGroup(ctx, s.db, v, f.GroupID); err != nil {
			return nil, err
		}
		where = append(where, contact.HasGroupsWith(contactgroup.ID(f.GroupID)))
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		if utf8.RuneCountInString(q) > 64 {
			return nil, errs.InvalidField("search", "搜索内容不能超过64个字")
		}
		where = append(where, contact.Or(contact.NameContainsFold(q), contact.PhoneContains(q),
			contact.EmailContainsFold(q), contact.EnterpriseNameContainsFold(q)))
	}
	return s.db.Contact.Query().Where(where...), nil
}

// Groups returns the viewer's groups by name.
func (s *Service) Groups(ctx context.Context) ([]*ent.ContactGroup, error) {
	v, err := user0(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.ContactGroup.Query().Where(contactgroup.UserID(v.UserID)).
		Order(ent.Asc(contactgroup.FieldName), ent.Asc(contactgroup.FieldID)).All(ctx)
}

// check validates and normalises a contact.
func check(in Input) (Input, error) {
	in.Name = strings.TrimSpace(in.Name)
	switch n := utf8.RuneCountInString(in.Name); {
	case n == 0:
		return in, errs.InvalidField("name", "请填写联系人姓名")
	case n > 64:
		return in, errs.InvalidField("name", "姓名不能超过64个字")
	case strings.ContainsAny(in.Name, "\x00\r\n\t"):
		return in, errs.InvalidField("name", "姓名不能包含换行等控制字符")
	}
	phone, err := accounts.NormalizePhone("phone", in.Phone)
	if err != nil {
		return in, err
	}
	in.Phone = phone
	in.Email = strings.TrimSpace(in.Email)
	if in.Email != "" {
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email || len(in.Email) > 128 {
			return in, errs.InvalidField("email", "请输入正确的邮箱地址")
		}
	}
	in.EnterpriseName = strings.TrimSpace(in.EnterpriseName)
	if utf8.RuneCountInString(in.EnterpriseName) > 128 || strings.ContainsAny(in.EnterpriseName, "\x00\r\n\t") {
		return in, errs.InvalidField("enterpriseName", "企业名称不能超过128个字")
	}
	if len(in.GroupIDs) > MaxGroups {
		return in, errs.InvalidField("groupIds", "分组过多")
	}
	return in, nil
}

// withTx runs fn in a transaction as the system and commits or rolls back.
func (s *Service) withTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("contacts: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return tx.Commit()
}

// conflict turns a unique-index violation into a clear Conflict.
func conflict(err error, msg string) error {
	if ent.IsConstraintError(err) {
		return errs.Wrap(err, errs.Conflict, msg)
	}
	return err
}

const duplicateContact = "该联系人已存在（手机号和企业相同）"

// Create adds a contact of the viewer's. Errors: Unauthenticated, Invalid,
// Conflict (same phone and enterprise, or too many contacts), NotFound (a
// group that is not the viewer's).
func (s *Service) Create(ctx context.Context, in Input) (*ent.Contact, error) {
	v, err := user0(ctx)
	if err != nil {
		return nil, err
	}
	if in, err = check(in); err != nil {
		return nil, err
	}
	var id int
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		sys := viewer.System(ctx)
		n, err := tx.Contact.Query().Where(contact.UserID(v.UserID)).Count(sys)
		if err != nil {
			return err
		}
		if n >= MaxContacts {
			return errs.Newf(errs.Conflict, "联系人最多%d个", MaxContacts)
		}
		groups, err := s.ownGroups(ctx, tx.Client(), v, in.GroupIDs)
		if err != nil {
			return err
		}
		c, err := tx.Contact.Create().SetUserID(v.UserID).SetName(in.Name).SetPhone(in.Phone).SetEmail(in.Email).
			SetEnterpriseName(in.EnterpriseName).SetSource(contact.SourceManual).AddGroupIDs(groups...).Save(sys)
		if err != nil {
			return conflict(err, duplicateContact)
		}
		id = c.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.Contact.Get(ctx, id)
}

// Update edits a contact of the viewer's (auto-added ones too). Errors as
// Create, and NotFound for a contact that is not the viewer's.
func (s *Service) Update(ctx context.Context, id int, in Input) (*ent.Contact, error) {
	v, err := user0(ctx)
	if err != nil {
		return nil, err
	}
	if in, err = check(in); err != nil {
		return nil, err
	}
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		sys := viewer.System(ctx)
		c, err := s.ownContact(ctx, tx.Client(), v, id)
		if err != nil {
			return err
		}
		upd := tx.Contact.UpdateOne(c).SetName(in.Name).SetPhone(in.Phone).SetEmail(in.Email).SetEnterpriseName(in.EnterpriseName)
		if in.GroupIDs != nil {
			groups, err := s.ownGroups(ctx, tx.Client(), v, in.GroupIDs)
			if err != nil {
				return err
			}
			upd.ClearGroups().AddGroupIDs(groups...)
		}
		return conflict(upd.Exec(sys), duplicateContact)
	})
	if err != nil {
		return nil, err
	}
	return s.db.Contact.Get(ctx, id)
}

// Delete removes contacts of the viewer's; all or nothing. Errors:
// Unauthenticated, Invalid, NotFound.
func (s *Service) Delete(ctx context.Context, ids []int) error {
	v, err := user0(ctx)
	if err != nil {
		return err
	}
	if len(ids) == 0 || len(ids) > MaxBatch {
		return errs.InvalidField("ids", fmt.Sprintf("请选择1到%d个联系人", MaxBatch))
	}
	ids = unique(ids)
	return s.withTx(ctx, func(tx *ent.Tx) error {
		n, err := tx.Contact.Delete().Where(contact.IDIn(ids...), contact.UserID(v.UserID)).Exec(viewer.System(ctx))
		if err != nil {
			return err
		}
		if n != len(ids) {
			return contactNotFound()
		}
		return nil
	})
}

func checkGroupName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		return "", errs.InvalidField("name", "请填写分组名称")
	case n > 32:
		return "", errs.InvalidField("name", "分组名称不能超过32个字")
	case strings.ContainsAny(name, "\x00\r\n\t"):
		return "", errs.InvalidField("name", "分组名称不能包含换行等控制字符")
	}
	return name, nil
}

const duplicateGroup = "分组名称已存在"

// CreateGroup adds a group. Errors: Unauthenticated, Invalid, Conflict (the
// name is taken, or too many groups).
func (s *Service) CreateGroup(ctx context.Context, name string) (*ent.ContactGroup, error) {
	v, err := user0(ctx)
	if err != nil {
		return nil, err
	}
	if name, err = checkGroupName(name); err != nil {
		return nil, err
	}
	var id int
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		sys := viewer.System(ctx)
		n, err := tx.ContactGroup.Query().Where(contactgroup.UserID(v.UserID)).Count(sys)
		if err != nil {
			return err
		}
		if n >= MaxGroups {
			return errs.Newf(errs.Conflict, "分组最多%d个", MaxGroups)
		}
		g, err := tx.ContactGroup.Create().SetUserID(v.UserID).SetName(name).Save(sys)
		if err != nil {
			return conflict(err, duplicateGroup)
		}
		id = g.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.ContactGroup.Get(ctx, id)
}

// RenameGroup renames a group of the viewer's. Errors: Unauthenticated,
// Invalid, NotFound, Conflict.
func (s *Service) RenameGroup(ctx context.Context, id int, name string) (*ent.ContactGroup, error) {
	v, err := user0(ctx)
	if err != nil {
		return nil, err
	}
	if name, err = checkGroupName(name); err != nil {
		return nil, err
	}
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		g, err := s.ownGroup(ctx, tx.Client(), v, id)
		if err != nil {
			return err
		}
		return conflict(tx.ContactGroup.UpdateOne(g).SetName(name).Exec(viewer.System(ctx)), duplicateGroup)
	})
	if err != nil {
		return nil, err
	}
	return s.db.ContactGroup.Get(ctx, id)
}

// DeleteGroup deletes a group of the viewer's; its contacts stay. Errors:
// Unauthenticated, NotFound.
func (s *Service) DeleteGroup(ctx context.Context, id int) error {
	v, err := user0(ctx)
	if err != nil {
		return err
	}
	return s.withTx(ctx, func(tx *ent.Tx) error {
		g, err := s.ownGroup(ctx, tx.Client(), v, id)
		if err != nil {
			return err
		}
		return tx.ContactGroup.DeleteOne(g).Exec(viewer.System(ctx))
	})
}

// AddToGroup puts contacts of the viewer's into one of their groups
// (already members stay). Errors: Unauthenticated, Invalid, NotFound.
func (s *Service) AddToGroup(ctx context.Context, groupID int, contactIDs []int) (*ent.ContactGroup, error) {
	return s.changeGroup(ctx, groupID, contactIDs, true)
}

// RemoveFromGroup takes contacts of the viewer's out of one of their groups.
// Errors: Unauthenticated, Invalid, NotFound.
func (s *Service) RemoveFromGroup(ctx context.Context, groupID int, contactIDs []int) (*ent.ContactGroup, error) {
	return s.changeGroup(ctx, groupID, contactIDs, false)
}

func (s *Service) changeGroup(ctx context.Context, groupID int, contactIDs []int, add bool) (*ent.ContactGroup, error) {
	v, err := user0(ctx)
	if err != nil {
		return nil, err
	}
	if len(contactIDs) == 0 || len(contactIDs) > MaxBatch {
		return nil, errs.InvalidField("contactIds", fmt.Sprintf("请选择1到%d个联系人", MaxBatch))
	}
	contactIDs = unique(contactIDs)
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		sys := viewer.System(ctx)
		g, err := s.ownGroup(ctx, tx.Client(), v, groupID)
		if err != nil {
			return err
		}
		n, err := tx.Contact.Query().Where(contact.IDIn(contactIDs...), contact.UserID(v.UserID)).Count(sys)
		if err != nil {
			return err
		}
		if n != len(contactIDs) {
			return contactNotFound()
		}
		upd := tx.ContactGroup.UpdateOne(g)
		if add {
			have, err := g.QueryContacts().Where(contact.IDIn(contactIDs...)).IDs(sys)
			if err != nil {
				return err
			}
			upd.AddContactIDs(minus(contactIDs, have)...)
		} else {
			upd.RemoveContactIDs(contactIDs...)
		}
		return upd.Exec(sys)
	})
	if err != nil {
		return nil, err
	}
	return s.db.ContactGroup.Get(ctx, groupID)
}

// ownContact loads a contact when it is the viewer's.
func (s *Service) ownContact(ctx context.Context, db *ent.Client, v viewer.Viewer, id int) (*ent.Contact, error) {
	c, err := db.Contact.Get(viewer.System(ctx), id)
	if ent.IsNotFound(err) || (err == nil && c.UserID != v.UserID) {
		return nil, contactNotFound()
	}
	return c, err
}

// ownGroup loads a group when it is the viewer's.
func (s *Service) ownGroup(ctx context.Context, db *ent.Client, v viewer.Viewer, id int) (*ent.ContactGroup, error) {
	g, err := db.ContactGroup.Get(viewer.System(ctx), id)
	if ent.IsNotFound(err) || (err == nil && g.UserID != v.UserID) {
		return nil, groupNotFound()
	}
	return g, err
}

// ownGroups checks that every id is a group of the viewer's.
func (s *Service) ownGroups(ctx context.Context, db *ent.Client, v viewer.Viewer, ids []int) ([]int, error) {
	ids = unique(ids)
	if len(ids) == 0 {
		return nil, nil
	}
	n, err := db.ContactGroup.Query().Where(contactgroup.IDIn(ids...), contactgroup.UserID(v.UserID)).Count(viewer.System(ctx))
	if err != nil {
		return nil, err
	}
	if n != len(ids) {
		return nil, groupNotFound()
	}
	return ids, nil
}

// AddCoSigners adds the parties of completed flow flowID to each other's
// contacts inside tx: every party with an account (signer or CC) adds every
// other signer party, and the initiator adds every party. A contact the owner
// already has (same phone and enterprise) is left as it is; nobody is added
// to their own contacts. It implements flows.CoSigners.
func (s *Service) AddCoSigners(ctx context.Context, tx *ent.Tx, flowID int) error {
	sys := viewer.System(ctx)
	f, err := tx.Flow.Query().Where(flow.ID(flowID)).WithInitiator().Only(sys)
	if err != nil {
		return fmt.Errorf("contacts: load flow: %w", err)
	}
	parts, err := tx.Participant.Query().Where(participant.FlowID(flowID)).Order(ent.Asc(participant.FieldID)).All(sys)
	if err != nil {
		return fmt.Errorf("contacts: load parties: %w", err)
	}
	// Owners: the initiator, and each party's account (bound, or by phone).
	phones := map[int]string{f.InitiatorID: f.Edges.Initiator.Phone}
	var unbound []string
	for _, p := range parts {
		if p.UserID == nil {
			unbound = append(unbound, p.Phone)
		}
	}
	byPhone := map[string]int{}
	if len(unbound) > 0 {
		us, err := tx.User.Query().Where(user.PhoneIn(unbound...)).Select(user.FieldID, user.FieldPhone).All(sys)
		if err != nil {
			return fmt.Errorf("contacts: parties' accounts: %w", err)
		}
		for _, u := range us {
			byPhone[u.Phone] = u.ID
		}
	}
	type key struct {
		owner             int
		phone, enterprise string
	}
	seen := map[key]bool{}
	var creates []*ent.ContactCreate
	add := func(owner int, ownerPhone string, p *ent.Participant) {
		k := key{owner, p.Phone, p.EnterpriseName}
		if p.Phone == ownerPhone || seen[k] {
			return
		}
		seen[k] = true
		creates = append(creates, tx.Contact.Create().SetUserID(owner).SetName(p.Name).SetPhone(p.Phone).
			SetEmail(p.Email).SetEnterpriseName(p.EnterpriseName).SetSource(contact.SourceAuto))
	}
	for _, p := range parts {
		add(f.InitiatorID, phones[f.InitiatorID], p)
	}
	for _, owner := range parts {
		uid := byPhone[owner.Phone]
		if owner.UserID != nil {
			uid = *owner.UserID
		}
		if uid == 0 {
			continue
		}
		for _, p := range parts {
			if p.ID != owner.ID && p.Role == participant.RoleSigner {
				add(uid, owner.Phone, p)
			}
		}
	}
	if len(creates) == 0 {
		return nil
	}
	err = tx.Contact.CreateBulk(creates...).
		OnConflictColumns(contact.FieldUserID, contact.FieldPhone, contact.FieldEnterpriseName).
		DoNothing().Exec(sys)
	if err != nil {
		return fmt.Errorf("contacts: add co-signers: %w", err)
	}
	return nil
}

func unique(ids []int) []int {
	seen := map[int]bool{}
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func minus(a, b []int) []int {
	drop := map[int]bool{}
	for _, id := range b {
		drop[id] = true
	}
	var out []int
	for _, id := range a {
		if !drop[id] {
			out = append(out, id)
		}
	}
	return out
}
