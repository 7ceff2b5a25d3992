package contacts_test

import (
	"context"
	"strings"
	"testing"

	"signet/contacts"
	"signet/ent"
	"signet/ent/contact"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/errs"
	"signet/internal/dbtest"
	"signet/viewer"
)

type env struct {
	svc   *contacts.Service
	db    *ent.Client
	users map[string]viewer.Viewer
}

func setup(t *testing.T, b dbtest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Open(t, b)
	e := &env{svc: contacts.New(db.Client), db: db.Client, users: map[string]viewer.Viewer{}}
	for name, phone := range map[string]string{"alice": "13800000001", "bob": "13800000002", "carol": "13800000003", "mallory": "13800000009"} {
		u, err := db.Client.User.Create().SetPhone(phone).SetName(name).Save(viewer.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = viewer.Viewer{UserID: u.ID, Phone: phone}
	}
	return e
}

func (e *env) as(name string) context.Context {
	return viewer.NewContext(context.Background(), e.users[name])
}

func wantCode(t *testing.T, err error, code errs.Code, msg string) {
	t.Helper()
	if errs.CodeOf(err) != code || !strings.Contains(errs.MessageOf(err), msg) {
		t.Fatalf("error %v (%q), want %s containing %q", err, errs.MessageOf(err), code, msg)
	}
}

func (e *env) names(t *testing.T, who string, f contacts.Filter) string {
	t.Helper()
	q, err := e.svc.Query(e.as(who), f)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := q.Order(contact.ByName()).All(e.as(who))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

func TestContacts(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		alice := e.as("alice")

		// Refusals: anonymous, bad input.
		_, err := e.svc.Create(context.Background(), contacts.Input{Name: "张三", Phone: "13900000001"})
		wantCode(t, err, errs.Unauthenticated, "请先登录")
		for _, tc := range []struct {
			in    contacts.Input
			field string
			msg   string
		}{
			{contacts.Input{Phone: "13900000001"}, "name", "请填写联系人姓名"},
			{contacts.Input{Name: strings.Repeat("长", 65), Phone: "13900000001"}, "name", "不能超过64个字"},
			{contacts.Input{Name: "张\n三", Phone: "13900000001"}, "name", "控制字符"},
			{contacts.Input{Name: "张三", Phone: "1234"}, "phone", "11位手机号"},
			{contacts.Input{Name: "张三", Phone: "13900000001", Email: "not-an-email"}, "email", "邮箱"},
			{contacts.Input{Name: "张三", Phone: "13900000001", EnterpriseName: strings.Repeat("企", 129)}, "enterpriseName", "128"},
		} {
			_, err := e.svc.Create(alice, tc.in)
			wantCode(t, err, errs.Invalid, tc.msg)
			if f := errs.As(err).Field; f != tc.field {
				t.Errorf("%+v: field %q, want %q", tc.in, f, tc.field)
			}
		}

		// Groups.
		clients, err := e.svc.CreateGroup(alice, " 客户 ")
		if err != nil || clients.Name != "客户" {
			t.Fatalf("group = %+v %v", clients, err)
		}
		_, err = e.svc.CreateGroup(alice, "客户")
		wantCode(t, err, errs.Conflict, "分组名称已存在")
		_, err = e.svc.CreateGroup(alice, "")
		wantCode(t, err, errs.Invalid, "请填写分组名称")
		suppliers, err := e.svc.CreateGroup(alice, "供应商")
		if err != nil {
			t.Fatal(err)
		}
		// Bob may use the same name: names are per owner.
		bobGroup, err := e.svc.CreateGroup(e.as("bob"), "客户")
		if err != nil {
			t.Fatal(err)
		}

		zhang, err := e.svc.Create(alice, contacts.Input{Name: "张三", Phone: "+86 139 0000 0001", Email: "zs@example.com", GroupIDs: []int{clients.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if zhang.Phone != "13900000001" || zhang.Source != contact.SourceManual {
			t.Fatalf("contact = %+v", zhang)
		}
		li, err := e.svc.Create(alice, contacts.Input{Name: "李四", Phone: "13900000002", EnterpriseName: "北京某某科技有限公司"})
		if err != nil {
			t.Fatal(err)
		}
		// The same phone for another enterprise is another contact; the
		// same phone and enterprise is a duplicate.
		if _, err := e.svc.Create(alice, contacts.Input{Name: "李四", Phone: "13900000002"}); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Create(alice, contacts.Input{Name: "李四四", Phone: "13900000002", EnterpriseName: "北京某某科技有限公司"})
		wantCode(t, err, errs.Conflict, "该联系人已存在")
		// Someone else's group cannot be used.
		_, err = e.svc.Create(alice, contacts.Input{Name: "王五", Phone: "13900000003", GroupIDs: []int{bobGroup.ID}})
		wantCode(t, err, errs.NotFound, "分组不存在")

		// Search and group filter.
		for _, tc := range []struct {
			f    contacts.Filter
			want string
		}{
			{contacts.Filter{}, "张三,李四,李四"},
			{contacts.Filter{Search: "李"}, "李四,李四"},
			{contacts.Filter{Search: "0001"}, "张三"},
			{contacts.Filter{Search: "某某科技"}, "李四"},
			{contacts.Filter{Search: "ZS@EXAMPLE"}, "张三"},
			{contacts.Filter{GroupID: clients.ID}, "张三"},
			{contacts.Filter{GroupID: suppliers.ID}, ""},
		} {
			if got := e.names(t, "alice", tc.f); got != tc.want && !sameSet(got, tc.want) {
				t.Errorf("filter %+v = %q, want %q", tc.f, got, tc.want)
			}
		}
		_, err = e.svc.Query(alice, contacts.Filter{GroupID: bobGroup.ID})
		wantCode(t, err, errs.NotFound, "分组不存在")

		// Group membership.
		if _, err := e.svc.AddToGroup(alice, suppliers.ID, []int{li.ID, zhang.ID, li.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AddToGroup(alice, suppliers.ID, []int{li.ID}); err != nil {
			t.Fatalf("adding a member again: %v", err)
		}
		if got := e.names(t, "alice", contacts.Filter{GroupID: suppliers.ID}); !sameSet(got, "张三,李四") {
			t.Fatalf("供应商 = %q", got)
		}
		if _, err := e.svc.RemoveFromGroup(alice, suppliers.ID, []int{zhang.ID}); err != nil {
			t.Fatal(err)
		}
		if got := e.names(t, "alice", contacts.Filter{GroupID: suppliers.ID}); got != "李四" {
			t.Fatalf("供应商 after removal = %q", got)
		}
		_, err = e.svc.AddToGroup(alice, suppliers.ID, nil)
		wantCode(t, err, errs.Invalid, "请选择")

		// Edit: groups replaced when given, kept when not.
		zhang, err = e.svc.Update(alice, zhang.ID, contacts.Input{Name: "张三丰", Phone: "13900000001", GroupIDs: []int{suppliers.ID}})
		if err != nil || zhang.Name != "张三丰" {
			t.Fatalf("update = %+v %v", zhang, err)
		}
		if got := e.names(t, "alice", contacts.Filter{GroupID: clients.ID}); got != "" {
			t.Fatalf("客户 after moving 张三丰 = %q", got)
		}
		if _, err := e.svc.Update(alice, zhang.ID, contacts.Input{Name: "张三丰", Phone: "13900000001", Email: "z@example.com"}); err != nil {
			t.Fatal(err)
		}
		if got := e.names(t, "alice", contacts.Filter{GroupID: suppliers.ID}); !sameSet(got, "张三丰,李四") {
			t.Fatalf("供应商 after an edit without groups = %q", got)
		}
		_, err = e.svc.Update(alice, zhang.ID, contacts.Input{Name: "张三丰", Phone: "13900000002", EnterpriseName: "北京某某科技有限公司"})
		wantCode(t, err, errs.Conflict, "该联系人已存在")

		// Rename and delete groups; contacts stay.
		if g, err := e.svc.RenameGroup(alice, suppliers.ID, "合作伙伴"); err != nil || g.Name != "合作伙伴" {
			t.Fatalf("rename = %+v %v", g, err)
		}
		_, err = e.svc.RenameGroup(alice, suppliers.ID, "客户")
		wantCode(t, err, errs.Conflict, "分组名称已存在")
		if err := e.svc.DeleteGroup(alice, suppliers.ID); err != nil {
			t.Fatal(err)
		}
		if got := e.names(t, "alice", contacts.Filter{}); !sameSet(got, "张三丰,李四,李四") {
			t.Fatalf("contacts after deleting a group = %q", got)
		}
		gs, err := e.svc.Groups(alice)
		if err != nil || len(gs) != 1 || gs[0].ID != clients.ID {
			t.Fatalf("groups = %v %v", gs, err)
		}

		// Another user reaches none of it: every write is NOT_FOUND, every
		// read (even straight through ent) comes back empty.
		mallory := e.as("mallory")
		_, err = e.svc.Update(mallory, zhang.ID, contacts.Input{Name: "x", Phone: "13900000001"})
		wantCode(t, err, errs.NotFound, "联系人不存在")
		err = e.svc.Delete(mallory, []int{zhang.ID})
		wantCode(t, err, errs.NotFound, "联系人不存在")
		_, err = e.svc.RenameGroup(mallory, clients.ID, "x")
		wantCode(t, err, errs.NotFound, "分组不存在")
		err = e.svc.DeleteGroup(mallory, clients.ID)
		wantCode(t, err, errs.NotFound, "分组不存在")
		_, err = e.svc.AddToGroup(mallory, clients.ID, []int{zhang.ID})
		wantCode(t, err, errs.NotFound, "分组不存在")
		_, err = e.svc.AddToGroup(e.as("bob"), bobGroup.ID, []int{zhang.ID})
		wantCode(t, err, errs.NotFound, "联系人不存在")
		if got := e.names(t, "mallory", contacts.Filter{}); got != "" {
			t.Fatalf("mallory's contacts = %q", got)
		}
		if _, err := e.db.Contact.Get(mallory, zhang.ID); !ent.IsNotFound(err) {
			t.Fatalf("mallory reads alice's contact through ent: %v", err)
		}
		if n, _ := e.db.ContactGroup.Query().Count(mallory); n != 0 {
			t.Fatalf("mallory sees %d groups", n)
		}
		if n, _ := e.db.Contact.Query().Count(context.Background()); n != 0 {
			t.Fatalf("an anonymous viewer sees %d contacts", n)
		}
		if _, err := e.db.Contact.UpdateOneID(zhang.ID).SetName("x").Save(alice); err == nil {
			t.Fatal("the owner wrote through ent without the domain")
		}

		// Delete is all or nothing.
		err = e.svc.Delete(alice, []int{zhang.ID, li.ID + 100000})
		wantCode(t, err, errs.NotFound, "联系人不存在")
		if err := e.svc.Delete(alice, []int{zhang.ID}); err != nil {
			t.Fatal(err)
		}
		if got := e.names(t, "alice", contacts.Filter{}); got != "李四,李四" {
			t.Fatalf("after delete = %q", got)
		}
	})
}

// TestAddCoSigners covers the automatic contacts of a completed flow: an
// enterprise party, a CC without an account, a contact the owner already
// has, and a second run that adds nothing.
func TestAddCoSigners(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		ctx := context.Background()
		sys := viewer.System(ctx)
		// Alice already knows bob under another name: it stays as she wrote it.
		if _, err := e.svc.Create(e.as("alice"), contacts.Input{Name: "鲍勃", Phone: "13800000002"}); err != nil {
			t.Fatal(err)
		}
		f := e.db.Flow.Create().SetNumber("QS1").SetName("合同").SetInitiatorID(e.users["alice"].UserID).
			SetStatus(flow.StatusCompleted).SaveX(sys)
		bob := e.users["bob"].UserID
		e.db.Participant.Create().SetFlowID(f.ID).SetName("王小明").SetPhone("13800000002").SetUserID(bob).
			SetStatus(participant.StatusSigned).SaveX(sys)
		e.db.Participant.Create().SetFlowID(f.ID).SetKind(participant.KindEnterprise).SetName("李四").SetPhone("13800000003").
			SetEnterpriseName("上海某某有限公司").SetStatus(participant.StatusSigned).SetSignOrder(2).SaveX(sys) // carol, unbound
		e.db.Participant.Create().SetFlowID(f.ID).SetRole(participant.RoleCc).SetName("赵六").SetPhone("13900000004").SaveX(sys)
		for range 2 {
			tx, err := e.db.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.svc.AddCoSigners(ctx, tx, f.ID); err != nil {
				tx.Rollback()
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		for who, want := range map[string]string{
			"alice":   "李四,赵六,鲍勃", // bob kept as she named him; the CC too
			"bob":     "李四",
			"carol":   "王小明", // found by phone though unbound
			"mallory": "",
		} {
			if got := e.names(t, who, contacts.Filter{}); !sameSet(got, want) {
				t.Errorf("%s's contacts = %q, want %q", who, got, want)
			}
		}
		c, err := e.db.Contact.Query().Where(contact.Phone("13800000003")).Only(e.as("bob"))
		if err != nil || c.EnterpriseName != "上海某某有限公司" || c.Source != contact.SourceAuto {
			t.Fatalf("bob's enterprise contact = %+v %v", c, err)
		}
	})
}

func sameSet(a, b string) bool {
	split := func(s string) map[string]int {
		m := map[string]int{}
		if s == "" {
			return m
		}
		for _, x := range strings.Split(s, ",") {
			m[x]++
		}
		return m
	}
	x, y := split(a), split(b)
	if len(x) != len(y) {
		return false
	}
	for k, n := range x {
		if y[k] != n {
			return false
		}
	}
	return true
}
