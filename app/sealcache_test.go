package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"signet/ent"
	entseal "signet/ent/seal"
	"signet/enterprises"
	et "signet/enterprises/enterprisestest"
	"signet/internal/apitest"
	"signet/internal/benchutil"
	"signet/internal/dbtest"
	"signet/internal/sqlcount"
	"signet/internal/testpdf"
	"signet/jobs"
	"signet/viewer"
)

// TestSealsKeptPerNode: a node keeps the seals it read for signing
// (enterprises/sealcache.go); a seal changed — through any client of the
// database, on this node or, on PostgreSQL, on another server — can no
// longer sign: the commit of a signature checks the seals again from the
// rows (enterprises.RecheckSeals), so at once on every node, even one that
// never heard of the change; the node that changed it drops the seal at
// once, the other when the NOTIFY arrives or when its commit refused it.
func TestSealsKeptPerNode(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		a, counter := startCountingWith(t, b, apitest.Options{})
		other := otherNode(t, b, a, apitest.Options{})
		alice := a.Register("13800000001", passA)
		verifyRealName(t, a, alice, "钱多多", et.IDNumber("19850505", 31), "13800000001")
		sealID := personalSeal(t, a, alice)
		// flow sends a contract alice signs herself.
		flow := func(name string) string {
			t.Helper()
			var created struct{ CreateFlow struct{ ID string } }
			a.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`, map[string]any{"in": map[string]any{"name": name}}, &created)
			fid := created.CreateFlow.ID
			st, doc := upload(t, a, alice, fid, name, testpdf.Make(1))
			if st != http.StatusCreated {
				t.Fatalf("upload: %d %v", st, doc)
			}
			a.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
				"id": fid, "in": map[string]any{"name": name,
					"participants": []map[string]any{{"key": "a", "name": "钱多多", "phone": "13800000001", "order": 1}},
					"fields":       []map[string]any{{"documentID": doc["id"], "participantKey": "a", "kind": "personal_seal", "page": 1, "x": 350, "y": 80, "width": 120, "height": 60}},
				}}, nil)
			a.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)
			return fid
		}
		var seq atomic.Int64
		// intent asks for the intent code on node s and returns the input
		// to sign with, and whether node a read the seal for it.
		intent := func(s *apitest.Server, fid string) (map[string]any, bool) {
			t.Helper()
			in := map[string]any{"flowID": fid, "personalSealID": sealID}
			id := fmt.Sprintf("seal-%d", seq.Add(1))
			counter.Watch(func(ctx context.Context) bool { return viewer.ClientFrom(ctx).RequestID == id })
			r := s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + alice, "X-Request-ID": id},
				`mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in})
			read := false
			for _, q := range sqlcount.SQL(counter.Stop()) {
				read = read || strings.Contains(q, "`appearance`") || strings.Contains(q, `"appearance"`)
			}
			if r.Code() != "" {
				t.Fatalf("sendIntentCode: %s %s", r.Code(), r.Message())
			}
			in["code"] = a.LastCode("13800000001")
			return in, read
		}

		// Each flow its own code (the resend interval is per flow), within
		// the node's time to keep the seal.
		f1, f2, f3 := flow("第一份"), flow("第二份"), flow("第三份")
		if _, read := intent(a, f1); !read {
			t.Fatal("the first use did not read the seal")
		}
		in, read := intent(a, f2)
		if read {
			t.Fatal("the seal was read again: not kept")
		}
		a.MustDo(alice, signMutation, map[string]any{"in": in}, nil)

		// Kept on the other node too.
		in, _ = intent(other, f3)
		sys := viewer.System(context.Background())
		id, _ := strconv.Atoi(sealID)
		sl, err := a.App.DB.Client.Seal.Get(sys, id)
		if err != nil || sl.UserID == nil {
			t.Fatalf("seal %d: %v", id, err)
		}
		kept := func(s *apitest.Server) bool {
			return s.App.Enterprises.CanUseSeal(sys, *sl.UserID, id, enterprises.Scope{}) == nil
		}
		refused := func(s *apitest.Server) {
			t.Helper()
			r := s.Do(alice, signMutation, map[string]any{"in": in})
			if r.Code() == "" {
				t.Fatal("signed with a disabled seal")
			}
			if r.Code() != "FORBIDDEN" || !strings.Contains(r.Message(), "印章已停用") {
				t.Fatalf("refusal %s %s", r.Code(), r.Message())
			}
		}
		// Disabled behind every node's back (SQL, no hook: as if the news
		// were lost): the node still keeps the seal as it read it, and
		// the commit, which checks the seals again from the rows, refuses
		// the signature; the node then drops the seal.
		if _, err := a.App.DB.SQL.Exec(fmt.Sprintf("UPDATE seals SET status = '%s' WHERE id = %d", entseal.StatusDisabled, id)); err != nil {
			t.Fatal(err)
		}
		if !kept(other) {
			t.Fatal("the node dropped a seal it was not told about")
		}
		refused(other)
		if kept(other) {
			t.Fatal("the node kept the seal its commit refused")
		}
		// (Its check just now read the disabled row and keeps that: enabled
		// again through ent, which tells this node at once.)
		if err := other.App.DB.Client.Seal.UpdateOneID(id).SetStatus(entseal.StatusEnabled).Exec(sys); err != nil {
			t.Fatal(err)
		}

		// Disabled on node a in a transaction of the job queue's (a client
		// of its own, which database.DB.Use gives the hook too): refused at
		// once on both nodes, whether or not the NOTIFY has arrived.
		if err := other.App.Enterprises.CanUseSeal(sys, *sl.UserID, id, enterprises.Scope{}); err != nil {
			t.Fatalf("the seal enabled again is refused: %v", err)
		}
		if err := jobs.WithTx(sys, a.App.DB, func(tx *ent.Tx, _ jobs.JobTx) error {
			return tx.Seal.UpdateOneID(id).SetStatus(entseal.StatusDisabled).Exec(sys)
		}); err != nil {
			t.Fatal(err)
		}
		refused(other)
		refused(a)
		// And the other node drops it when the NOTIFY arrives.
		benchutil.WaitFor(t, "the other node dropping the disabled seal", func() bool { return !kept(other) })
	})
}
