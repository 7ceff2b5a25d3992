package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"signet/config"
	"signet/events"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
)

// wsSub is one graphql-transport-ws subscription on its own connection.
type wsSub struct {
	t *testing.T
	c *websocket.Conn
}

// subscribe opens a websocket to s as the holder of token, acknowledges
// connection_init and starts query.
func subscribe(t *testing.T, s *apitest.Server, token, query string, vars map[string]any) *wsSub {
	t.Helper()
	c, _, err := dialWS(t, s, s.URL)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	ctx := context.Background()
	init := map[string]any{"type": "connection_init"}
	if token != "" {
		init["payload"] = map[string]any{"authorization": "Bearer " + token}
	}
	wsjson.Write(ctx, c, init)
	if m, err := readWS(t, c); err != nil || m.Type != "connection_ack" {
		t.Fatalf("init: %+v %v", m, err)
	}
	wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}})
	return &wsSub{t: t, c: c}
}

// next returns the data of the next result, skipping pings; it fails the
// test on an error or the end of the subscription.
func (w *wsSub) next() map[string]any {
	w.t.Helper()
	for {
		m, err := readWS(w.t, w.c)
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		switch m.Type {
		case "ping", "pong":
			continue
		case "next":
			var p struct {
				Data   map[string]any
				Errors []any
			}
			json.Unmarshal(m.Payload, &p)
			if len(p.Errors) > 0 {
				w.t.Fatalf("subscription error: %s", m.Payload)
			}
			return p.Data
		default:
			w.t.Fatalf("got %s %s, want a result", m.Type, m.Payload)
		}
	}
}

// until returns the first result for which ok holds.
func (w *wsSub) until(what string, ok func(map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if d := w.next(); ok(d) {
			return d
		}
	}
	w.t.Fatalf("no result with %s", what)
	return nil
}

// refused reads the answer to a subscription that must be refused and
// returns its text.
func (w *wsSub) refused() string {
	w.t.Helper()
	for {
		m, err := readWS(w.t, w.c)
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		switch m.Type {
		case "ping", "pong":
			continue
		case "error":
			return string(m.Payload)
		case "next":
			if !strings.Contains(string(m.Payload), `"errors"`) {
				w.t.Fatalf("refused subscription delivered %s", m.Payload)
			}
			return string(m.Payload)
		default:
			w.t.Fatalf("got %s %s, want a refusal", m.Type, m.Payload)
		}
	}
}

func field(d map[string]any, path ...string) string {
	var v any = d
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return fmt.Sprint(v)
}

const (
	flowUpdatedSub = `subscription($id: ID!) { flowUpdated(id: $id) { flowID kind subjectID status time } }`
	listsSub       = `subscription { myListsChanged { todo done completed initiated } }`
)

// TestLiveProgress drives a contract through instance A while the
// initiator and the signer watch over websockets on instance B — on
// PostgreSQL a second server on the same database (events cross through
// LISTEN/NOTIFY), on SQLite the same server. Outsiders are refused; the
// trail, progress and chain verification are read through GraphQL.
func TestLiveProgress(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		a := apitest.Start(t, b, apitest.Options{})
		bs := a
		if b.DatabaseURL != "" {
			bs = apitest.Start(t, b, apitest.Options{Configure: func(c *config.Config) { c.DataDir = a.App.Config.DataDir }})
			pg, ok := bs.App.Events.(*events.Postgres)
			if !ok {
				t.Fatalf("instance B's broker is %T", bs.App.Events)
			}
			select {
			case <-pg.Ready():
			case <-time.After(10 * time.Second):
				t.Fatal("instance B never listened")
			}
		}
		alice := a.Register("13800000001", passA)
		bob := a.Register("13800000002", passA)
		mallory := a.Register("13800000009", passA)

		var created struct{ CreateFlow struct{ ID string } }
		a.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "设备采购合同"}}, &created)
		fid := created.CreateFlow.ID
		st, doc := upload(t, a, alice, fid, "采购合同", testpdf.Make(1))
		if st != http.StatusCreated {
			t.Fatalf("upload = %d %v", st, doc)
		}
		a.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
			"id": fid, "in": map[string]any{"name": "设备采购合同", "participants": []map[string]any{
				{"key": "b", "name": "王小明", "phone": "13800000002"},
				{"key": "m", "role": "cc", "name": "抄送人", "phone": "13900000004"},
			}, "fields": []map[string]any{{"documentID": fmt.Sprint(doc["id"]), "participantKey": "b", "kind": "personal_seal", "page": 1, "x": 100, "y": 100, "width": 120, "height": 60}}}}, nil)

		// Subscriptions on B: alice's flow, bob's lists. Outsiders refused.
		aliceSub := subscribe(t, bs, alice, flowUpdatedSub, map[string]any{"id": fid})
		if d := aliceSub.next(); field(d, "flowUpdated", "kind") != "subscribed" || field(d, "flowUpdated", "status") != "draft" {
			t.Fatalf("first update = %v", d)
		}
		bobLists := subscribe(t, bs, bob, listsSub, nil)
		if d := bobLists.next(); field(d, "myListsChanged", "todo") != "0" {
			t.Fatalf("bob's first counts = %v", d)
		}
		if msg := subscribe(t, bs, bob, flowUpdatedSub, map[string]any{"id": fid}).refused(); !strings.Contains(msg, "NOT_FOUND") {
			t.Fatalf("bob subscribing to a draft: %s", msg)
		}
		if msg := subscribe(t, bs, "", listsSub, nil).refused(); !strings.Contains(msg, "UNAUTHENTICATED") {
			t.Fatalf("anonymous lists subscription: %s", msg)
		}

		a.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)
		aliceSub.until("flow.sent", func(d map[string]any) bool {
			return field(d, "flowUpdated", "kind") == "flow.sent" && field(d, "flowUpdated", "status") == "signing"
		})
		bobLists.until("待办 1", func(d map[string]any) bool { return field(d, "myListsChanged", "todo") == "1" })

		msg := subscribe(t, bs, mallory, flowUpdatedSub, map[string]any{"id": fid}).refused()
		if !strings.Contains(msg, "NOT_FOUND") || !strings.Contains(msg, "合同不存在或无权查看") {
			t.Fatalf("mallory's subscription: %s", msg)
		}
		bobSub := subscribe(t, bs, bob, flowUpdatedSub, map[string]any{"id": fid})
		bobSub.next()

		// Bob opens the link, looks, and signs — all through instance A.
		code := waitLink(t, a, "13800000002")
		bobTok := openLink(t, a, code, "13800000002")
		var viewed struct{ MarkFlowViewed bool }
		a.MustDo(bobTok, `mutation($id: ID!) { markFlowViewed(id: $id) }`, map[string]any{"id": fid}, &viewed)
		if !viewed.MarkFlowViewed {
			t.Fatal("bob's first view was not recorded")
		}
		if r := a.Do(mallory, `mutation($id: ID!) { markFlowViewed(id: $id) }`, map[string]any{"id": fid}); r.Code() != "NOT_FOUND" {
			t.Fatalf("mallory marks viewed: %q", r.Code())
		}
		aliceSub.until("participant.viewed", func(d map[string]any) bool { return field(d, "flowUpdated", "kind") == "participant.viewed" })

		verifyRealName(t, a, bobTok, "王小明", "11010519491231002X", "13800000002")
		in := map[string]any{"flowID": fid, "personalSealID": personalSeal(t, a, bobTok)}
		a.MustDo(bobTok, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
		in["code"] = a.LastCode("13800000002")
		a.MustDo(bobTok, signMutation, map[string]any{"in": in}, nil)

		for _, sub := range []*wsSub{aliceSub, bobSub} {
			d := sub.until("participant.signed", func(d map[string]any) bool { return field(d, "flowUpdated", "kind") == "participant.signed" })
			if field(d, "flowUpdated", "flowID") != fid || field(d, "flowUpdated", "subjectID") == "<nil>" {
				t.Fatalf("signed update = %v", d)
			}
			sub.until("flow.completed", func(d map[string]any) bool {
				return field(d, "flowUpdated", "kind") == "flow.completed" && field(d, "flowUpdated", "status") == "completed"
			})
		}
		// Alice and Bob sent the same operation: each of those updates was
		// executed once on B and the other's frame reused it
		// (server/gqlws/share.go) — yet each got the whole update above.
		if _, body := bs.Get("/metrics"); !regexp.MustCompile(`(?m)^signet_graphql_ws_shared_frames_total [1-9]`).Match(body) {
			t.Errorf("no shared frames on instance B's /metrics:\n%s", regexp.MustCompile(`(?m)^signet_graphql_ws.*$`).Find(body))
		}
		bobLists.until("已完成 1", func(d map[string]any) bool {
			return field(d, "myListsChanged", "todo") == "0" && field(d, "myListsChanged", "completed") == "1"
		})

		// The trail and progress through GraphQL, on either instance.
		const trailQ = `query($id: ID!, $after: Int) { flowTrail(id: $id, after: $after, first: 5) {
			events { seq actor action actionLabel subject ip hash prevHash } hasNextPage nextAfter } }`
		var seen []string
		var after any
		for i := 0; i < 20; i++ {
			var tr struct {
				FlowTrail struct {
					Events []struct {
						Seq                                                     int
						Actor, Action, ActionLabel, Subject, IP, Hash, PrevHash string
					}
					HasNextPage bool
					NextAfter   *int
				}
			}
			bs.MustDo(bob, trailQ, map[string]any{"id": fid, "after": after}, &tr)
			for _, e := range tr.FlowTrail.Events {
				seen = append(seen, e.Action+"/"+e.ActionLabel+"/"+e.Actor)
				if e.Action == "flow.sent" && e.IP != "127.0.*.*" {
					t.Errorf("alice's IP as bob sees it: %q", e.IP)
				}
			}
			if !tr.FlowTrail.HasNextPage {
				break
			}
			after = *tr.FlowTrail.NextAfter
		}
		joined := strings.Join(seen, " ")
		for _, want := range []string{"flow.sent/发起签署/", "participant.viewed/查看合同/王小明", "participant.signed/签署/王小明", "flow.completed/签署完成/系统"} {
			if !strings.Contains(joined, want) {
				t.Errorf("trail lacks %s: %s", want, joined)
			}
		}
		var pr struct {
			FlowProgress struct {
				Flow    struct{ Status string }
				Parties []struct {
					Name, Role, Status, MaskedPhone string
					ViewedAt, SignedAt              *time.Time
					IsMe                            bool
				}
			}
		}
		a.MustDo(bobTok, `query($id: ID!) { flowProgress(id: $id) { flow { status } parties { name role status maskedPhone viewedAt signedAt isMe } } }`,
			map[string]any{"id": fid}, &pr)
		ps := pr.FlowProgress.Parties
		if pr.FlowProgress.Flow.Status != "completed" || len(ps) != 2 || ps[0].Name != "王小明" || ps[0].Status != "signed" ||
			ps[0].SignedAt == nil || ps[0].ViewedAt == nil || !ps[0].IsMe || ps[1].Role != "cc" || ps[1].MaskedPhone != "139****0004" || ps[1].IsMe {
			t.Fatalf("progress = %+v", pr.FlowProgress)
		}
		var ver struct {
			VerifyFlowTrail struct {
				Ok     bool
				Events int
			}
		}
		a.MustDo(alice, `query($id: ID!) { verifyFlowTrail(id: $id) { ok events lastSeq lastHash problems { seq kind } } }`, map[string]any{"id": fid}, &ver)
		if !ver.VerifyFlowTrail.Ok || ver.VerifyFlowTrail.Events < len(seen) {
			t.Fatalf("verify = %+v (trail of %d)", ver, len(seen))
		}
		for _, q := range []string{
			`query($id: ID!) { flowTrail(id: $id) { hasNextPage } }`,
			`query($id: ID!) { flowProgress(id: $id) { parties { name } } }`,
			`query($id: ID!) { verifyFlowTrail(id: $id) { ok } }`,
		} {
			if r := a.Do(mallory, q, map[string]any{"id": fid}); r.Code() != "NOT_FOUND" || r.Message() != "合同不存在或无权查看" {
				t.Errorf("mallory %s: %q %q", q, r.Code(), r.Message())
			}
			if r := a.Do("", q, map[string]any{"id": fid}); r.Code() != "UNAUTHENTICATED" {
				t.Errorf("anonymous %s: %q", q, r.Code())
			}
		}

		// The co-signers are in each other's contacts.
		var cs struct {
			Contacts struct {
				TotalCount int
				Edges      []struct {
					Node struct{ Name, Phone, Source string }
				}
			}
		}
		a.MustDo(alice, `{ contacts(first: 10, orderBy: {field: NAME}) { totalCount edges { node { name phone source } } } }`, nil, &cs)
		if cs.Contacts.TotalCount != 2 || cs.Contacts.Edges[0].Node.Source != "auto" {
			t.Fatalf("alice's contacts = %+v", cs)
		}
		a.MustDo(mallory, `{ contacts(first: 10) { totalCount } }`, nil, &cs)
		if cs.Contacts.TotalCount != 0 {
			t.Fatalf("mallory's contacts = %+v", cs)
		}
	})
}

// TestContactsAPI checks 联系人管理 through GraphQL: groups, contacts,
// search, paging, and another user's contacts out of reach.
func TestContactsAPI(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		alice := s.Register("13800000001", passA)
		mallory := s.Register("13800000009", passA)

		var g struct{ CreateContactGroup struct{ ID, Name string } }
		s.MustDo(alice, `mutation { createContactGroup(name: "客户") { id name } }`, nil, &g)
		if r := s.Do(alice, `mutation { createContactGroup(name: "客户") { id } }`, nil); r.Code() != "CONFLICT" || r.Message() != "分组名称已存在" {
			t.Fatalf("duplicate group: %q %q", r.Code(), r.Message())
		}
		const create = `mutation($in: ContactInput!) { createContact(input: $in) { id name phone enterpriseName source groups { name } } }`
		var ids []string
		for i, name := range []string{"张三", "李四", "王五"} {
			in := map[string]any{"name": name, "phone": fmt.Sprintf("1390000000%d", i+1)}
			if i == 0 {
				in["groupIDs"] = []string{g.CreateContactGroup.ID}
				in["enterpriseName"] = "北京某某科技有限公司"
			}
			var c struct{ CreateContact struct{ ID, Source string } }
			s.MustDo(alice, create, map[string]any{"in": in}, &c)
			if c.CreateContact.Source != "manual" {
				t.Fatalf("contact = %+v", c)
			}
			ids = append(ids, c.CreateContact.ID)
		}
		if r := s.Do(alice, create, map[string]any{"in": map[string]any{"name": "x", "phone": "123"}}); r.Code() != "INVALID_ARGUMENT" || r.Errors[0].Extensions["field"] != "phone" {
			t.Fatalf("bad phone: %+v", r.Errors)
		}

		// Paging and search.
		const list = `query($q: String, $g: ID, $after: Cursor) { contacts(search: $q, groupID: $g, first: 2, after: $after, orderBy: {field: NAME}) {
			totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }`
		type page struct {
			Contacts struct {
				TotalCount int
				PageInfo   struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct{ Node struct{ Name string } }
			}
		}
		var p1, p2 page
		s.MustDo(alice, list, nil, &p1)
		if p1.Contacts.TotalCount != 3 || len(p1.Contacts.Edges) != 2 || !p1.Contacts.PageInfo.HasNextPage {
			t.Fatalf("page 1 = %+v", p1)
		}
		s.MustDo(alice, list, map[string]any{"after": p1.Contacts.PageInfo.EndCursor}, &p2)
		if len(p2.Contacts.Edges) != 1 || p2.Contacts.PageInfo.HasNextPage {
			t.Fatalf("page 2 = %+v", p2)
		}
		for _, tc := range []struct {
			vars map[string]any
			want int
		}{
			{map[string]any{"q": "某某科技"}, 1}, {map[string]any{"q": "0002"}, 1}, {map[string]any{"q": "赵"}, 0},
			{map[string]any{"g": g.CreateContactGroup.ID}, 1},
		} {
			var p page
			s.MustDo(alice, list, tc.vars, &p)
			if p.Contacts.TotalCount != tc.want {
				t.Errorf("%v: %d contacts, want %d", tc.vars, p.Contacts.TotalCount, tc.want)
			}
		}

		// Membership, rename, counts.
		var grp struct {
			AddContactsToGroup struct{ ContactCount int }
		}
		s.MustDo(alice, `mutation($g: ID!, $ids: [ID!]!) { addContactsToGroup(groupID: $g, contactIDs: $ids) { contactCount } }`,
			map[string]any{"g": g.CreateContactGroup.ID, "ids": ids[1:]}, &grp)
		if grp.AddContactsToGroup.ContactCount != 3 {
			t.Fatalf("group size = %d", grp.AddContactsToGroup.ContactCount)
		}
		s.MustDo(alice, `mutation($g: ID!) { renameContactGroup(id: $g, name: "重要客户") { name } }`, map[string]any{"g": g.CreateContactGroup.ID}, nil)
		var gs struct {
			ContactGroups []struct {
				Name         string
				ContactCount int
			}
		}
		s.MustDo(alice, `{ contactGroups { name contactCount } }`, nil, &gs)
		if len(gs.ContactGroups) != 1 || gs.ContactGroups[0].Name != "重要客户" || gs.ContactGroups[0].ContactCount != 3 {
			t.Fatalf("groups = %+v", gs)
		}

		// Mallory reaches nothing of alice's.
		if r := s.Do(mallory, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ids[0]}); r.Code() != "NOT_FOUND" && !strings.Contains(string(r.Data), `"node":null`) {
			t.Fatalf("mallory reads alice's contact through node: %s %+v", r.Data, r.Errors)
		}
		for _, tc := range []struct {
			q    string
			vars map[string]any
			code string
		}{
			{`mutation($id: ID!) { updateContact(id: $id, input: {name: "x", phone: "13900000001"}) { id } }`, map[string]any{"id": ids[0]}, "NOT_FOUND"},
			{`mutation($ids: [ID!]!) { deleteContacts(ids: $ids) }`, map[string]any{"ids": ids[:1]}, "NOT_FOUND"},
			{`mutation($id: ID!) { renameContactGroup(id: $id, name: "x") { id } }`, map[string]any{"id": g.CreateContactGroup.ID}, "NOT_FOUND"},
			{`mutation($id: ID!) { deleteContactGroup(id: $id) }`, map[string]any{"id": g.CreateContactGroup.ID}, "NOT_FOUND"},
			{`query($g: ID) { contacts(groupID: $g, first: 5) { totalCount } }`, map[string]any{"g": g.CreateContactGroup.ID}, "NOT_FOUND"},
			{`{ contacts(first: 5) { totalCount } }`, nil, ""},
		} {
			r := s.Do(mallory, tc.q, tc.vars)
			if r.Code() != tc.code {
				t.Errorf("mallory %s: %q, want %q", tc.q, r.Code(), tc.code)
			}
			if tc.code == "" && !strings.Contains(string(r.Data), `"totalCount":0`) {
				t.Errorf("mallory's own contacts: %s", r.Data)
			}
		}
		if r := s.Do("", `{ contactGroups { id } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("anonymous groups: %q", r.Code())
		}

		// Deleting the group keeps the contacts; deleting contacts removes them.
		s.MustDo(alice, `mutation($id: ID!) { deleteContactGroup(id: $id) }`, map[string]any{"id": g.CreateContactGroup.ID}, nil)
		s.MustDo(alice, `mutation($ids: [ID!]!) { deleteContacts(ids: $ids) }`, map[string]any{"ids": ids[:2]}, nil)
		var left page
		s.MustDo(alice, list, nil, &left)
		if left.Contacts.TotalCount != 1 || left.Contacts.Edges[0].Node.Name != "王五" {
			t.Fatalf("after deletes = %+v", left)
		}
	})
}
