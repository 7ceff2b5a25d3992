package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"signet/config"
	"signet/ent/certdocument"
	"signet/ent/certificate"
	"signet/ent/certorder"
	"signet/ent/membership"
	entseal "signet/ent/seal"
	"signet/ent/sealgrant"
	"signet/enterprises"
	. "signet/enterprises/enterprisestest"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/viewer"
)

// TestEnterpriseAuthorizationMatrix runs every enterprise query and mutation
// of the API against enterprise A's rows as three people who must all be
// refused — an outsider, a plain member of A, and the administrator of
// another enterprise B, each in their own space — and then checks that
// nothing of A changed. A's administrator runs the same queries
// successfully, so the refusals are not an artefact of a broken setup.
func TestEnterpriseAuthorizationMatrix(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{Configure: func(c *config.Config) { c.SandboxCAReviewDelay = time.Minute }})
		e := s.App.Enterprises
		adminA, tokA := User(t, s, "13800002001")
		orderA := Certify(t, s, adminA, Company{Name: "矩阵甲有限公司", Code: CreditCode(5001), LegalRep: "甲法人", LegalRepPhone: "13900006001"})
		adminB, tokB := User(t, s, "13800002002")
		orderB := Certify(t, s, adminB, Company{Name: "矩阵乙有限公司", Code: CreditCode(5002), LegalRep: "乙法人", LegalRepPhone: "13900006002"})
		member, tokM := User(t, s, "13800002003")
		_, tokO := User(t, s, "13800002004")
		applicant, _ := User(t, s, "13800002005")

		Must(e.SwitchSpace(adminA, orderA.EnterpriseID))(t)
		Must(e.SwitchSpace(adminB, orderB.EnterpriseID))(t)
		jr := Must(e.RequestJoin(member, "矩阵甲有限公司", "成员"))(t)
		Must(e.DecideJoin(adminA, jr.ID, true, ""))(t)
		Must(e.SwitchSpace(member, orderA.EnterpriseID))(t)
		pendingJR := Must(e.RequestJoin(applicant, "矩阵甲有限公司", "申请"))(t)
		// The API's switchSpace, as clients use it.
		for tok, id := range map[string]int{tokA: orderA.EnterpriseID, tokB: orderB.EnterpriseID, tokM: orderA.EnterpriseID} {
			s.MustDo(tok, `mutation($id: ID) { switchSpace(enterpriseId: $id) { enterprise { id } } }`, map[string]any{"id": id}, nil)
		}

		sys := viewer.System(context.Background())
		db := s.App.DB.Client
		docA := Must(db.CertDocument.Query().Where(certdocument.HasOrderWith(certorder.ID(orderA.ID))).FirstID(sys))(t)
		sealA := Must(db.Seal.Query().Where(entseal.EnterpriseID(orderA.EnterpriseID), entseal.KindEQ(entseal.KindContract)).Only(sys))(t)
		certA := Must(db.Certificate.Query().Where(certificate.EnterpriseID(orderA.EnterpriseID)).Only(sys))(t)
		memberUID := viewer.FromContext(member).UserID
		memM := Must(db.Membership.Query().Where(membership.EnterpriseID(orderA.EnterpriseID), membership.UserID(memberUID)).Only(sys))(t)
		grantA := Must(e.GrantSeal(adminA, enterprises.GrantInput{SealID: sealA.ID, UserID: memberUID,
			ValidFrom: s.Clock.Now(), ValidUntil: s.Clock.Now().Add(time.Hour)}))(t)

		vars := map[string]any{
			"seal": sealA.ID, "cert": certA.ID, "mem": memM.ID, "grant": grantA.ID, "jr": pendingJR.ID,
			"order": orderA.ID, "ent": orderA.EnterpriseID, "user": memberUID, "djr": jr.ID,
			"from": s.Clock.Now().Format(time.RFC3339), "until": s.Clock.Now().Add(time.Hour).Format(time.RFC3339),
		}
		// Operations without an id act on the caller's own active space: for
		// B's administrator they must answer about B, never about A.
		own := map[string]bool{"consoleEnterprise": true, "consoleMembers": true, "consoleSeals": true,
			"consoleSealGrants": true, "consoleCertificates": true, "consoleJoinRequests": true,
			"updateOrganization": true, "addMember": true, "createSeal": true, "consoleTrail": true, "startRecertification": true}
		aIDs := []string{strconv.Itoa(orderA.EnterpriseID), strconv.Itoa(sealA.ID), strconv.Itoa(certA.ID),
			strconv.Itoa(memM.ID), strconv.Itoa(pendingJR.ID), strconv.Itoa(grantA.ID), "矩阵甲有限公司", certA.Serial}
		ops := []struct{ name, query string }{
			{"consoleEnterprise", `{ consoleEnterprise { id name } }`},
			{"consoleMembers", `{ consoleMembers { id memberMaskedPhone } }`},
			{"consoleSeals", `{ consoleSeals { id imageDataURL } }`},
			{"consoleSealGrants", `{ consoleSealGrants { id } }`},
			{"consoleCertificates", `{ consoleCertificates { id serial } }`},
			{"consoleJoinRequests", `{ consoleJoinRequests { id applicantMaskedPhone } }`},
			{"decideJoinRequest", `mutation($jr: ID!) { decideJoinRequest(id: $jr, approve: true) { id status } }`},
			{"updateOrganization", `mutation { updateOrganization(input: {legalRepName: "篡改人"}) { voidedSeals } }`},
			{"addMember", `mutation { addMember(phone: "13800002004", role: admin) { id } }`},
			{"updateMember", `mutation($mem: ID!) { updateMember(id: $mem, role: admin) { id role } }`},
			{"removeMember", `mutation($mem: ID!) { removeMember(id: $mem) }`},
			{"createSeal", `mutation { createSeal(input: {kind: custom, horizontal: "财务专用章"}) { id } }`},
			{"setSealEnabled", `mutation($seal: ID!) { setSealEnabled(id: $seal, enabled: false) { id status } }`},
			{"voidSeal", `mutation($seal: ID!) { voidSeal(id: $seal) { id status } }`},
			{"grantSeal", `mutation($seal: ID!, $user: ID!, $from: Time!, $until: Time!) { grantSeal(input: {sealId: $seal, userId: $user, validFrom: $from, validUntil: $until}) { id } }`},
			{"revokeSealGrant", `mutation($grant: ID!) { revokeSealGrant(id: $grant) { id } }`},
			{"renewCertificate", `mutation($cert: ID!) { renewCertificate(id: $cert) { id } }`},
			{"revokeCertificate", `mutation($cert: ID!) { revokeCertificate(id: $cert) { id status } }`},
			{"certificationOrder", `query($order: ID!) { certificationOrder(id: $order) { id step } }`},
			{"authorizationLetterTemplate", `query($order: ID!) { authorizationLetterTemplate(orderId: $order) { dataURL } }`},
			{"refreshCertOrder", `mutation($order: ID!) { refreshCertOrder(orderId: $order) { id } }`},
			{"revokeEnterpriseCertification", `mutation($order: ID!) { revokeEnterpriseCertification(orderId: $order) { id } }`},
			{"continueEnterpriseCertification", `mutation($order: ID!) { continueEnterpriseCertification(orderId: $order) { id } }`},
			{"startRecertification", `mutation { startRecertification { id } }`},
			{"issueUKeyCertificate", `mutation($cert: ID!) { issueUKeyCertificate(id: $cert, csr: "x") }`},
			{"createUKeyBindChallenge", `mutation($cert: ID!) { createUKeyBindChallenge(id: $cert, certificate: "x") { nonce } }`},
			{"bindUKeyCertificate", `mutation($cert: ID!) { bindUKeyCertificate(input: {id: $cert, certificate: "x", nonce: "x", signature: "eA=="}) { id } }`},
			{"consoleTrail", `{ consoleTrail { events { action payload } } }`},
			{"revokeJoinRequest", `mutation($jr: ID!) { revokeJoinRequest(id: $jr) { id } }`},
			{"rejoinEnterprise", `mutation($jr: ID!) { rejoinEnterprise(id: $jr) { id } }`},
			{"decideJoinRequest decided", `mutation($djr: ID!) { decideJoinRequest(id: $djr, approve: false) { id status } }`},
		}
		actors := []struct{ name, token string }{{"outsider", tokO}, {"member without the role", tokM}, {"administrator of another enterprise", tokB}}
		for _, op := range ops {
			for _, a := range actors {
				r := s.Do(a.token, op.query, vars)
				if own[op.name] && a.token == tokB {
					for _, id := range aIDs {
						if strings.Contains(string(r.Data), `"`+id+`"`) {
							t.Errorf("%s as %s: shows A's %s", op.name, a.name, id)
						}
					}
					continue
				}
				if len(r.Errors) == 0 {
					t.Errorf("%s as %s: allowed: %.200s", op.name, a.name, r.Data)
					continue
				}
				if c := r.Code(); c != "FORBIDDEN" && c != "NOT_FOUND" && c != "UNAUTHENTICATED" {
					t.Errorf("%s as %s: code %s (%s), want a refusal", op.name, a.name, c, r.Message())
				}
			}
		}
		// A seal answered by createSeal loads its edges (it came out of the
		// creating transaction, which has ended by then).
		var created struct {
			CreateSeal struct {
				ID          string
				Certificate *struct{ ID string }
			}
		}
		s.MustDo(tokB, `mutation { createSeal(input: {kind: custom, horizontal: "人事专用章"}) { id certificate { id } } }`, nil, &created)
		if created.CreateSeal.Certificate == nil || created.CreateSeal.Certificate.ID == "" {
			t.Fatalf("createSeal's certificate: %+v", created.CreateSeal)
		}
		// What each of them may see of their own: never A's seals or grants.
		for _, a := range actors {
			for _, q := range []string{`{ usableSeals { id name } }`, `{ mySealGrants { id sealName } }`} {
				r := s.Do(a.token, q, vars)
				for _, id := range []string{strconv.Itoa(sealA.ID), strconv.Itoa(grantA.ID)} {
					if a.token != tokM && strings.Contains(string(r.Data), `"`+id+`"`) {
						t.Errorf("%s as %s shows A's %s: %s", q, a.name, id, r.Data)
					}
				}
			}
		}
		// The plain member sees exactly the grant and the seal A gave them.
		var mine struct {
			UsableSeals  []struct{ ID string }
			MySealGrants []struct{ ID, SealName string }
		}
		s.MustDo(tokM, `{ usableSeals { id } mySealGrants { id sealName } }`, nil, &mine)
		if len(mine.UsableSeals) != 1 || mine.UsableSeals[0].ID != strconv.Itoa(sealA.ID) ||
			len(mine.MySealGrants) != 1 || mine.MySealGrants[0].ID != strconv.Itoa(grantA.ID) {
			t.Errorf("member's usable seals and grants: %+v", mine)
		}
		// The plain member may switch into A (and back), never into B.
		if r := s.Do(tokM, `mutation($id: ID) { switchSpace(enterpriseId: $id) { role } }`, map[string]any{"id": orderB.EnterpriseID}); r.Code() != "FORBIDDEN" {
			t.Errorf("member into B: %s %s", r.Code(), r.Data)
		}
		var sw struct{ SwitchSpace struct{ Role string } }
		s.MustDo(tokM, `mutation($id: ID) { switchSpace(enterpriseId: $id) { role } }`, map[string]any{"id": orderA.EnterpriseID}, &sw)
		if sw.SwitchSpace.Role != "member" {
			t.Errorf("member in A: role %q", sw.SwitchSpace.Role)
		}
		// A decided request stays decided, also for A's administrator.
		if r := s.Do(tokA, `mutation($djr: ID!) { decideJoinRequest(id: $djr, approve: false) { id } }`, vars); r.Code() != "CONFLICT" {
			t.Errorf("deciding a decided request: %s %s", r.Code(), r.Data)
		}
		// Application documents are kept by the blob sweep.
		blobKeys := map[string]bool{}
		if err := e.BlobKeys(context.Background(), func(k string) { blobKeys[k] = true }); err != nil {
			t.Fatal(err)
		}
		for _, d := range Must(db.CertDocument.Query().All(sys))(t) {
			if !blobKeys[d.BlobKey] {
				t.Errorf("BlobKeys misses application document %d (%s)", d.ID, d.BlobKey)
			}
		}
		// Application documents: only the applicant uploads and downloads.
		for _, tok := range []string{tokO, tokM, tokB, ""} {
			if code, _ := uploadDoc(t, s, tok, orderA.ID, "business_license", PNG(320, 320)); code != 401 && code != 404 && code != 403 {
				t.Errorf("upload to A's order: %d", code)
			}
			if code, _ := getWithToken(t, s, tok, "/files/enterprise-documents/"+strconv.Itoa(docA)); code != 401 && code != 404 && code != 403 {
				t.Errorf("download of A's document: %d", code)
			}
		}

		// Anonymous callers are refused too.
		for _, op := range ops {
			if r := s.Do("", op.query, vars); len(r.Errors) == 0 {
				t.Errorf("%s anonymous: allowed", op.name)
			}
		}
		// Switching into A's space is refused to the outsider and to B's administrator.
		for _, tok := range []string{tokO, tokB} {
			r := s.Do(tok, `mutation($ent: ID) { switchSpace(enterpriseId: $ent) { enterprise { id } } }`, vars)
			if r.Code() != "FORBIDDEN" {
				t.Errorf("switchSpace into A: %s %s", r.Code(), r.Data)
			}
		}
		// node(id:) does not reveal A's rows to outsiders.
		for _, id := range []int{sealA.ID, certA.ID, orderA.EnterpriseID, memM.ID, grantA.ID, orderA.ID} {
			for _, tok := range []string{tokO, tokB} {
				r := s.Do(tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
				var out struct{ Node *struct{ ID string } }
				if len(r.Errors) == 0 {
					r.Decode(t, &out)
				}
				if out.Node != nil {
					t.Errorf("node %d visible to an outsider", id)
				}
			}
		}

		// Nothing of A changed.
		if st := Must(db.Seal.Get(sys, sealA.ID))(t); st.Status != entseal.StatusEnabled {
			t.Errorf("seal A is %s", st.Status)
		}
		if n := Must(db.Seal.Query().Where(entseal.EnterpriseID(orderA.EnterpriseID)).Count(sys))(t); n != 3 {
			t.Errorf("A has %d seals", n)
		}
		if c := Must(db.Certificate.Get(sys, certA.ID))(t); c.Status != certificate.StatusActive {
			t.Errorf("certificate A is %s", c.Status)
		}
		if n := Must(db.Certificate.Query().Where(certificate.EnterpriseID(orderA.EnterpriseID)).Count(sys))(t); n != 1 {
			t.Errorf("A has %d certificates", n)
		}
		if m := Must(db.Membership.Get(sys, memM.ID))(t); m.Role != membership.RoleMember {
			t.Errorf("member role %s", m.Role)
		}
		if n := Must(db.Membership.Query().Where(membership.EnterpriseID(orderA.EnterpriseID)).Count(sys))(t); n != 2 {
			t.Errorf("A has %d members", n)
		}
		if g := Must(db.SealGrant.Query().Where(sealgrant.ID(grantA.ID)).Only(sys))(t); g.RevokedAt != nil {
			t.Error("grant revoked")
		}
		if jr := Must(db.JoinRequest.Get(sys, pendingJR.ID))(t); jr.Status != "pending" {
			t.Errorf("join request %s", jr.Status)
		}
		if en := Must(db.Enterprise.Get(sys, orderA.EnterpriseID))(t); en.LegalRepName != "甲法人" || en.Status != "certified" {
			t.Errorf("enterprise A %s %s", en.LegalRepName, en.Status)
		}

		// A's administrator gets real answers from the same queries.
		for _, op := range ops[:6] {
			r := s.Do(tokA, op.query, vars)
			if len(r.Errors) > 0 {
				t.Errorf("%s as A's administrator: %s", op.name, r.Message())
			}
		}
		var seals struct {
			ConsoleSeals []struct{ ID, ImageDataURL string }
		}
		s.MustDo(tokA, `{ consoleSeals { id imageDataURL } }`, nil, &seals)
		if len(seals.ConsoleSeals) != 3 || !strings.HasPrefix(seals.ConsoleSeals[0].ImageDataURL, "data:image/png;base64,iVBOR") {
			t.Errorf("console seals %d, the first's image %.40q", len(seals.ConsoleSeals), seals.ConsoleSeals[0].ImageDataURL)
		}
		var jrs struct {
			ConsoleJoinRequests []struct {
				ID                   string
				ApplicantMaskedPhone string
				EnterpriseName       string
			}
		}
		s.MustDo(tokA, `{ consoleJoinRequests(status: pending) { id applicantMaskedPhone enterpriseName } }`, nil, &jrs)
		if len(jrs.ConsoleJoinRequests) != 1 || jrs.ConsoleJoinRequests[0].ApplicantMaskedPhone != "138****2005" ||
			jrs.ConsoleJoinRequests[0].ID != strconv.Itoa(pendingJR.ID) {
			b, _ := json.Marshal(jrs)
			t.Errorf("pending join requests %s", b)
		}
		_ = fmt.Sprint()
	})
}

// TestEnterpriseAPIJourney drives certification through GraphQL as a client
// would, up to the payment QR and the paid review, and the 我的企业 lists.
func TestEnterpriseAPIJourney(t *testing.T) {
	s := apitest.Start(t, dbtest.SQLite(t), apitest.Options{Configure: func(c *config.Config) { c.SandboxCAReviewDelay = time.Minute }})
	tok := s.Register("13800003001", "Passw0rd!x")
	var start struct {
		StartEnterpriseCertification struct{ ID, Step, StepTitle string }
	}
	s.MustDo(tok, `mutation($in: StartCertificationInput!) { startEnterpriseCertification(input: $in) { id step stepTitle } }`,
		map[string]any{"in": map[string]any{"name": "接口测试有限公司", "creditCode": CreditCode(6001), "address": "北京市海淀区中关村大街1号",
			"legalRepName": "钱法人", "legalRepIdNumber": IDNumber("19810101", 5)}}, &start)
	if start.StartEnterpriseCertification.Step != "application" || start.StartEnterpriseCertification.StepTitle != "填写申请信息" {
		t.Fatalf("start %+v", start)
	}
	id := start.StartEnterpriseCertification.ID
	r := s.Do(tok, `mutation($in: StartCertificationInput!) { startEnterpriseCertification(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": "接口测试有限公司", "creditCode": "91330100MA2XXXXX0X", "address": "北京市海淀区中关村大街1号",
			"legalRepName": "钱法人", "legalRepIdNumber": IDNumber("19810101", 5)}})
	if r.Code() != "INVALID_ARGUMENT" || r.Errors[0].Extensions["field"] != "creditCode" {
		t.Fatalf("bad credit code: %s %v", r.Code(), r.Errors)
	}
	s.MustDo(tok, `mutation($id: ID!, $in: CertApplicationInput!) { saveCertApplication(orderId: $id, input: $in) { step } }`,
		map[string]any{"id": id, "in": map[string]any{"method": "legal_rep_phone", "applicantName": "孙经办", "applicantIdNumber": IDNumber("19930101", 6),
			"applicantPhone": "13700007001", "legalRepPhone": "13900007001", "agreementAccepted": true}}, nil)
	s.MustDo(tok, `mutation($id: ID!) { confirmCertOrder(orderId: $id) { step } }`, map[string]any{"id": id}, nil)
	s.MustDo(tok, `mutation($id: ID!, $c: String!) { verifyCertAuthorization(orderId: $id, code: $c) { step } }`,
		map[string]any{"id": id, "c": s.LastCode("13900007001")}, nil)
	var letter struct{ AuthorizationLetterTemplate struct{ DataURL string } }
	s.MustDo(tok, `query($id: ID!) { authorizationLetterTemplate(orderId: $id) { dataURL } }`, map[string]any{"id": id}, &letter)
	if !strings.HasPrefix(letter.AuthorizationLetterTemplate.DataURL, "data:text/html") {
		t.Error("no letter template")
	}
	oid, _ := strconv.Atoi(id)
	// Uploads are multipart, into the blob store; refusals first.
	if code, body := uploadDoc(t, s, tok, oid, "business_license", []byte("hello")); code != 400 || !strings.Contains(body, "仅支持") {
		t.Errorf("text upload: %d %s", code, body)
	}
	if code, body := uploadDoc(t, s, tok, oid, "passport", PNG(320, 320)); code != 400 || !strings.Contains(body, "材料类型") {
		t.Errorf("unknown kind: %d %s", code, body)
	}
	if code, body := uploadDoc(t, s, tok, oid, "business_license", make([]byte, 5<<20+1)); code != 400 || !strings.Contains(body, "5MB") {
		t.Errorf("oversized upload: %d %s", code, body)
	}
	// Far beyond the 1 MiB GraphQL limit: a 3 MB licence scan.
	big := append(PNG(320, 320), make([]byte, 3<<20)...)
	for _, k := range []string{"authorization_letter", "business_license", "applicant_id_front", "applicant_id_back"} {
		img := PNG(320, 320)
		if k == "business_license" {
			img = big
		}
		code, body := uploadDoc(t, s, tok, oid, k, img)
		if code != 201 {
			t.Fatalf("upload %s: %d %s", k, code, body)
		}
	}
	var docs struct {
		CertificationOrder struct {
			Documents []struct {
				ID, Kind, DownloadURL string
				Size                  int
			}
		}
	}
	s.MustDo(tok, `query($id: ID!) { certificationOrder(id: $id) { documents { id kind size downloadURL } } }`, map[string]any{"id": id}, &docs)
	if len(docs.CertificationOrder.Documents) != 4 {
		t.Fatalf("documents %+v", docs)
	}
	for _, d := range docs.CertificationOrder.Documents {
		if d.Kind != "business_license" {
			continue
		}
		code, body := getWithToken(t, s, tok, d.DownloadURL)
		if code != 200 || len(body) != len(big) || string(body) != string(big) || d.Size != len(big) {
			t.Fatalf("download %s: %d, %d bytes of %d", d.DownloadURL, code, len(body), len(big))
		}
		row := Must(s.App.DB.Client.CertDocument.Get(viewer.System(context.Background()), Must(strconv.Atoi(d.ID))(t)))(t)
		if row.BlobKey == "" || len(row.Data) != 0 {
			t.Errorf("document kept in the database: blob %q, %d bytes inline", row.BlobKey, len(row.Data))
		}
	}
	s.MustDo(tok, `mutation($id: ID!) { submitCertDocuments(orderId: $id) { step } }`, map[string]any{"id": id}, nil)
	s.MustDo(tok, `mutation($id: ID!) { sendCertConfirmationCode(orderId: $id) { maskedPhone } }`, map[string]any{"id": id}, nil)
	s.MustDo(tok, `mutation($id: ID!, $c: String!) { confirmCertApplication(orderId: $id, code: $c, agreementAccepted: true) { step } }`,
		map[string]any{"id": id, "c": s.LastCode("13700007001")}, nil)
	var pay struct {
		PayCertOrder struct {
			Step             string
			PaymentQr        string
			PaymentQRDataURL *string
			CanRevoke        bool
		}
	}
	s.MustDo(tok, `mutation($id: ID!) { payCertOrder(orderId: $id, channel: alipay) { step paymentQr paymentQRDataURL canRevoke } }`,
		map[string]any{"id": id}, &pay)
	if pay.PayCertOrder.PaymentQRDataURL == nil || !pay.PayCertOrder.CanRevoke {
		t.Fatalf("payment %+v", pay)
	}
	// The payer scans the QR code: the sandbox page pays and notifies.
	qr := pay.PayCertOrder.PaymentQr
	if code, body := s.Get(qr[strings.Index(qr, "/sandbox/"):] + "?outcome=pay"); code != 200 {
		t.Fatalf("pay page %d %s", code, body)
	}
	var after struct {
		CertificationOrder struct {
			Step      string
			CanRevoke bool
		}
	}
	s.MustDo(tok, `query($id: ID!) { certificationOrder(id: $id) { step canRevoke } }`, map[string]any{"id": id}, &after)
	if after.CertificationOrder.Step != "review" || after.CertificationOrder.CanRevoke {
		t.Fatalf("after payment %+v", after)
	}
	r = s.Do(tok, `mutation($id: ID!) { revokeEnterpriseCertification(orderId: $id) { id } }`, map[string]any{"id": id})
	if r.Code() != "CONFLICT" || !strings.Contains(r.Message(), "已支付") {
		t.Fatalf("revoke after payment: %s %s", r.Code(), r.Message())
	}
	s.Clock.Advance(2 * time.Minute)
	s.MustDo(tok, `mutation($id: ID!) { refreshCertOrder(orderId: $id) { step } }`, map[string]any{"id": id}, &struct{}{})
	var mine struct {
		MyEnterprises struct {
			Certified []struct {
				StatusTitle string
				Enterprise  struct{ ID, Name string }
			}
		}
	}
	s.MustDo(tok, `{ myEnterprises(search: "接口") { certified { statusTitle enterprise { id name } } } }`, nil, &mine)
	if len(mine.MyEnterprises.Certified) != 1 || mine.MyEnterprises.Certified[0].StatusTitle != "已认证" {
		t.Fatalf("my enterprises %+v", mine)
	}
	var sp struct {
		SwitchSpace struct {
			Role       string
			Enterprise struct{ Name string }
		}
	}
	s.MustDo(tok, `mutation($id: ID) { switchSpace(enterpriseId: $id) { role enterprise { name } } }`,
		map[string]any{"id": mine.MyEnterprises.Certified[0].Enterprise.ID}, &sp)
	if sp.SwitchSpace.Role != "admin" {
		t.Fatalf("switch space %+v", sp)
	}
	var usable struct{ UsableSeals []struct{ Kind string } }
	s.MustDo(tok, `{ usableSeals { kind } }`, nil, &usable)
	if len(usable.UsableSeals) != 3 {
		t.Errorf("usable seals in the enterprise space: %+v", usable)
	}
	s.MustDo(tok, `mutation { switchSpace { role } }`, nil, nil)
	s.MustDo(tok, `{ usableSeals { kind } }`, nil, &usable)
	if len(usable.UsableSeals) != 0 {
		t.Errorf("usable seals in the personal space of an unverified user: %+v", usable)
	}
	var join struct{ RequestJoinEnterprise *struct{ ID string } }
	r = s.Do(tok, `mutation { requestJoinEnterprise(enterpriseName: "没有这家公司", reason: "入职") { id } }`, nil)
	if r.Message() != "查询失败，请重新填写" {
		t.Fatalf("join unknown: %q", r.Message())
	}
	_ = join
}

// uploadDoc posts an application document as the client does.
func uploadDoc(t *testing.T, s *apitest.Server, token string, orderID int, kind string, data []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", kind+".png")
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/files/enterprise-orders/%d/documents/%s", s.URL, orderID, kind), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getWithToken fetches a path as the holder of token.
func getWithToken(t *testing.T, s *apitest.Server, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
