package flows

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/ent/smscode"
	"signet/jobs"
	"signet/signingcore/verify"
	"signet/viewer"
)

// The evidence report (证据报告, DOC-5): what happened to a completed flow,
// for a person and for a program. It lists the flow, each document's
// original and final SHA-256 with the verification of its final revision,
// each signer (name, masked phone, certificate, signing time, signature
// time-stamp, and the intent record: when the 意愿认证 code was sent and
// confirmed and what it was bound to), the CC recipients, the whole trail
// with each event's chain hash, and the result of verifying the chain.
//
// It is kept in the blob store three ways: JSON (the record), HTML (the
// same for reading and printing) and an RFC 3161 time-stamp token from the
// platform TSA over the JSON's SHA-256, which anchors the trail's head at a
// trusted time: rewriting the trail afterwards no longer matches the
// report. The evidence.generated event records the keys and the hash.

// Evidence is the report. Times are UTC in JSON and China Standard Time in
// HTML.
type Evidence struct {
	Title       string             `json:"title"`
	Platform    string             `json:"platform"`
	GeneratedAt time.Time          `json:"generatedAt"`
	Flow        EvidenceFlow       `json:"flow"`
	Documents   []EvidenceDocument `json:"documents"`
	Signers     []EvidenceSigner   `json:"signers"`
	CC          []EvidenceParty    `json:"cc"`
	Trail       []EvidenceEvent    `json:"trail"`
	Chain       EvidenceChain      `json:"chain"`
}

// EvidenceFlow describes the flow.
type EvidenceFlow struct {
	ID             int        `json:"id"`
	Number         string     `json:"number"`
	Name           string     `json:"name"`
	Scene          string     `json:"scene"`
	Status         string     `json:"status"`
	Ordered        bool       `json:"ordered"`
	Initiator      string     `json:"initiator"`
	InitiatorPhone string     `json:"initiatorPhone"`
	CreatedAt      time.Time  `json:"createdAt"`
	SentAt         *time.Time `json:"sentAt,omitempty"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
	Deadline       *time.Time `json:"deadline,omitempty"`
}

// EvidenceDocument is one PDF of the flow.
type EvidenceDocument struct {
	ID             int                 `json:"id"`
	Name           string              `json:"name"`
	ContractNumber string              `json:"contractNumber,omitempty"`
	Pages          int                 `json:"pages"`
	OriginalSHA256 string              `json:"originalSha256"`
	OriginalSize   int64               `json:"originalSize"`
	FinalSHA256    string              `json:"finalSha256"`
	FinalSize      int64               `json:"finalSize"`
	Revisions      int                 `json:"revisions"`
	Verdict        string              `json:"verdict"`
	Summary        string              `json:"summary"`
	Signatures     []EvidenceSignature `json:"signatures"`
}

// EvidenceSignature is one signature or document time-stamp of a document.
type EvidenceSignature struct {
	Index     int    `json:"index"`
	Kind      string `json:"kind"`
	FieldName string `json:"fieldName"`
	Status    string `json:"status"`
	Summary   string `json:"summary"`
	// ParticipantID is the signer (0 for a document time-stamp).
	ParticipantID    int           `json:"participantId,omitempty"`
	Name             string        `json:"name,omitempty"`
	Certificate      *EvidenceCert `json:"certificate,omitempty"`
	SigningTime      time.Time     `json:"signingTime"`
	TimestampTrusted bool          `json:"timestampTrusted"`
	TSA              string        `json:"tsa,omitempty"`
	Revocation       string        `json:"revocation,omitempty"`
	ChangesAfter     string        `json:"changesAfter,omitempty"`
}

// EvidenceCert describes a certificate.
type EvidenceCert struct {
	Subject   string    `json:"subject"`
	Serial    string    `json:"serial"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
}

// EvidenceParty is a party as the report names them.
type EvidenceParty struct {
	ParticipantID int    `json:"participantId"`
	Name          string `json:"name"`
	Enterprise    string `json:"enterprise,omitempty"`
	MaskedPhone   string `json:"maskedPhone"`
}

// EvidenceSigner is a signer with what proves their signature.
type EvidenceSigner struct {
	EvidenceParty
	Order        int             `json:"order"`
	Status       string          `json:"status"`
	ViewedAt     *time.Time      `json:"viewedAt,omitempty"`
	SignedAt     *time.Time      `json:"signedAt,omitempty"`
	Certificates []EvidenceCert  `json:"certificates"`
	Timestamps   []time.Time     `json:"timestamps"`
	Intent       *EvidenceIntent `json:"intent,omitempty"`
}

// EvidenceIntent is the 意愿认证 record of a signature.
type EvidenceIntent struct {
	// CodeSentAt and ConfirmedAt are when the SMS code was issued and when
	// the signer entered it (the signature followed at once).
	CodeSentAt  *time.Time `json:"codeSentAt,omitempty"`
	ConfirmedAt *time.Time `json:"confirmedAt,omitempty"`
	// Scope is what the code was bound to: "f<flow>:p<participant>:<first
	// 16 hex of the documents' revision fingerprint>:<fields and seals>".
	Scope string `json:"scope"`
	// Fingerprint is the short document fingerprint the SMS showed.
	Fingerprint string `json:"fingerprint"`
	// BoundTo explains Scope in Chinese.
	BoundTo string `json:"boundTo"`
	Seals   []int  `json:"seals,omitempty"`
}

// EvidenceEvent is one event of the trail.
type EvidenceEvent struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Label    string    `json:"label"`
	Subject  string    `json:"subject,omitempty"`
	IP       string    `json:"ip,omitempty"`
	PrevHash string    `json:"prevHash"`
	Hash     string    `json:"hash"`
}

// EvidenceChain is the verification of the trail's hash chain.
type EvidenceChain struct {
	Chain    string   `json:"chain"`
	Events   int      `json:"events"`
	LastSeq  int64    `json:"lastSeq"`
	LastHash string   `json:"lastHash"`
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}

// EvidenceRecord is where a flow's evidence report is kept, as the
// evidence.generated event recorded it.
type EvidenceRecord struct {
	JSONKey     string    `json:"json"`
	HTMLKey     string    `json:"html"`
	TokenKey    string    `json:"timestampToken"`
	SHA256      string    `json:"sha256"`
	ChainSeq    int64     `json:"chainSeq"`
	ChainHash   string    `json:"chainHash"`
	ChainOK     bool      `json:"chainOK"`
	GeneratedAt time.Time `json:"generatedAt"`
}

// evidenceRecord returns the flow's evidence record, nil when there is none.
func (s *Service) evidenceRecord(ctx context.Context, flowID int) (*EvidenceRecord, error) {
	e, err := s.db.AuditEvent.Query().
		Where(auditevent.Chain(audit.FlowChain(flowID)), auditevent.Action(string(audit.EvidenceGenerated))).
		Order(ent.Desc(auditevent.FieldSeq)).First(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("evidence record: %w", err)
	}
	var rec EvidenceRecord
	if err := json.Unmarshal([]byte(e.Payload), &rec); err != nil {
		return nil, fmt.Errorf("evidence record: %w", err)
	}
	return &rec, nil
}

// Evidence returns the evidence record of a flow the viewer may follow
// (nil while the completion job has not made it).
func (s *Service) Evidence(ctx context.Context, flowID int) (*EvidenceRecord, error) {
	f, _, err := s.follow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	return s.evidenceRecord(ctx, f.ID)
}

// generateEvidence builds, stores and records the report once, and in the
// recording transaction queues the completion notices and HR emails.
func (s *Service) generateEvidence(ctx context.Context, f *ent.Flow) error {
	if rec, err := s.evidenceRecord(ctx, f.ID); err != nil || rec != nil {
		return err
	}
	ev, err := s.buildEvidence(ctx, f)
	if err != nil {
		return err
	}
	js, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := evidenceHTML.Execute(&page, ev); err != nil {
		return fmt.Errorf("evidence html: %w", err)
	}
	sum := sha256.Sum256(js)
	token, err := s.tsa.Timestamp(ctx, sum[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("evidence time-stamp: %w", err)
	}
	rec := EvidenceRecord{SHA256: hex.EncodeToString(sum[:]), ChainSeq: ev.Chain.LastSeq, ChainHash: ev.Chain.LastHash,
		ChainOK: ev.Chain.OK, GeneratedAt: ev.GeneratedAt}
	for _, part := range []struct {
		key  *string
		data []byte
	}{{&rec.JSONKey, js}, {&rec.HTMLKey, page.Bytes()}, {&rec.TokenKey, token}} {
		info, err := s.blobs.PutContent(ctx, bytes.NewReader(part.data))
		if err != nil {
			return fmt.Errorf("store evidence: %w", err)
		}
		*part.key = info.Key
	}
	return s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: audit.System(),
			Action: audit.EvidenceGenerated, Subject: audit.Subject{Type: "flow", ID: f.ID}, Payload: rec}); err != nil {
			return err
		}
		s.announce(tx, f, audit.EvidenceGenerated, f.ID)
		if err := s.queue(ctx, jtx, NoticeArgs{FlowID: f.ID, Notice: NoticeCompleted}, nil); err != nil {
			return err
		}
		if err := s.noticeCC(ctx, tx, jtx, f, NoticeCompleted, nil); err != nil {
			return err
		}
		if f.Scene != "hr" {
			return nil
		}
		parts, err := tx.Participant.Query().Where(participant.FlowID(f.ID), participant.EmailNEQ("")).
			Order(ent.Asc(participant.FieldID)).All(sys)
		if err != nil {
			return err
		}
		for _, p := range parts {
			if err := s.queueEmail(ctx, tx, jtx, f, p.Email, audit.System(), p.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// buildEvidence gathers the report from the database, the final documents
// and the trail.
func (s *Service) buildEvidence(ctx context.Context, f *ent.Flow) (*Evidence, error) {
	sys := viewer.System(ctx)
	ini, err := f.QueryInitiator().Only(sys)
	if err != nil {
		return nil, err
	}
	parts, err := s.db.Participant.Query().Where(participant.FlowID(f.ID)).
		Order(ent.Asc(participant.FieldSignOrder), ent.Asc(participant.FieldID)).All(sys)
	if err != nil {
		return nil, err
	}
	docs, err := s.db.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).
		Order(ent.Asc(flowdocument.FieldPosition), ent.Asc(flowdocument.FieldID)).All(sys)
	if err != nil {
		return nil, err
	}
	names := newTrailNames(f, ini, parts, docs)
	ev := &Evidence{Title: "签署证据报告", Platform: "签网 Signet", GeneratedAt: s.now().UTC(),
		Flow: EvidenceFlow{ID: f.ID, Number: f.Number, Name: f.Name, Scene: string(f.Scene), Status: string(f.Status),
			Ordered: f.Ordered, Initiator: names.initiator, InitiatorPhone: accounts.MaskPhone(ini.Phone),
			CreatedAt: f.CreatedAt.UTC(), SentAt: utc(f.SentAt), FinishedAt: utc(f.FinishedAt), Deadline: utc(f.Deadline)},
		Documents: []EvidenceDocument{}, Signers: []EvidenceSigner{}, CC: []EvidenceParty{}, Trail: []EvidenceEvent{}}

	root, err := s.ca.RootCertificate()
	if err != nil {
		return nil, err
	}
	opts := verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: s.ca}}
	bySigner := map[int]*EvidenceSigner{}
	for _, p := range parts {
		party := EvidenceParty{ParticipantID: p.ID, Name: p.Name, Enterprise: p.EnterpriseName, MaskedPhone: accounts.MaskPhone(p.Phone)}
		if p.Role == participant.RoleCc {
			ev.CC = append(ev.CC, party)
			continue
		}
		ev.Signers = append(ev.Signers, EvidenceSigner{EvidenceParty: party, Order: p.SignOrder, Status: string(p.Status),
			ViewedAt: utc(p.ViewedAt), SignedAt: utc(p.SignedAt), Certificates: []EvidenceCert{}, Timestamps: []time.Time{}})
	}
	for i := range ev.Signers {
		bySigner[ev.Signers[i].ParticipantID] = &ev.Signers[i]
	}
	for _, d := range docs {
		pdf, err := s.getPDF(ctx, d.CurrentKey)
		if err != nil {
			return nil, fmt.Errorf("evidence: read %s: %w", d.Name, err)
		}
		rep, err := verify.VerifyContext(ctx, pdf, opts)
		if err != nil {
			return nil, fmt.Errorf("evidence: verify %s: %w", d.Name, err)
		}
		ed := EvidenceDocument{ID: d.ID, Name: d.Name, ContractNumber: d.ContractNumber, Pages: len(d.Pages),
			OriginalSHA256: d.OriginalSha256, OriginalSize: d.OriginalSize, FinalSHA256: d.CurrentSha256, FinalSize: int64(len(pdf)),
			Revisions: rep.Revisions, Verdict: string(rep.Verdict), Summary: rep.Summary, Signatures: []EvidenceSignature{}}
		for _, sg := range rep.Signatures {
			es := EvidenceSignature{Index: sg.Index, Kind: sg.Kind, FieldName: sg.FieldName, Status: string(sg.Status),
				Summary: sg.Summary, Name: sg.Name, SigningTime: sg.SigningTime.UTC(), TimestampTrusted: sg.SigningTimeTrusted,
				Revocation: sg.Revocation.Status, ChangesAfter: string(sg.Coverage.ChangesAfter)}
			if sg.Signer != nil {
				es.Certificate = evidenceCert(sg.Signer)
			}
			if sg.Timestamp != nil && sg.Timestamp.TSA != nil {
				es.TSA = sg.Timestamp.TSA.Subject
			}
			if sg.Kind == verify.KindSignature {
				es.ParticipantID = fieldParticipant(sg.FieldName)
				if sp := bySigner[es.ParticipantID]; sp != nil {
					if es.Certificate != nil && !hasCert(sp.Certificates, es.Certificate.SHA256) {
						sp.Certificates = append(sp.Certificates, *es.Certificate)
					}
					if sg.SigningTimeTrusted {
						sp.Timestamps = append(sp.Timestamps, es.SigningTime)
					}
				}
			}
			ed.Signatures = append(ed.Signatures, es)
		}
		ev.Documents = append(ev.Documents, ed)
	}

	// The trail, with the intent record of each signature.
	for after := int64(0); ; {
		page, err := audit.List(sys, s.db, audit.FlowChain(f.ID), after, audit.MaxPageSize)
		if err != nil {
			return nil, err
		}
		for _, e := range page.Events {
			ev.Trail = append(ev.Trail, EvidenceEvent{Seq: e.Seq, Time: e.CreatedAt.UTC(), Actor: names.actor(e), Action: e.Action,
				Label: audit.Action(e.Action).Label(), Subject: names.subject(e.SubjectType, e.SubjectID), IP: MaskIP(e.IP),
				PrevHash: e.PrevHash, Hash: e.Hash})
			if audit.Action(e.Action) != audit.ParticipantSigned {
				continue
			}
			sp := bySigner[e.SubjectID]
			if sp == nil {
				continue
			}
			var payload struct {
				Seals       []int  `json:"seals"`
				IntentScope string `json:"intentScope"`
			}
			if json.Unmarshal([]byte(e.Payload), &payload) != nil || payload.IntentScope == "" {
				continue
			}
			sp.Intent = s.intentRecord(ctx, parts, e.SubjectID, payload.IntentScope, payload.Seals)
		}
		if page.Next == 0 {
			break
		}
		after = page.Next
	}
	rep, err := audit.Verify(sys, s.db, audit.FlowChain(f.ID))
	if err != nil {
		return nil, err
	}
	ev.Chain = EvidenceChain{Chain: rep.Chain, Events: rep.Events, LastSeq: rep.LastSeq, LastHash: rep.LastHash, OK: rep.OK()}
	for _, p := range rep.Problems {
		ev.Chain.Problems = append(ev.Chain.Problems, fmt.Sprintf("#%d %s: %s", p.Seq, p.Kind, p.Detail))
	}
	return ev, nil
}

// intentRecord finds the intent code a signature consumed.
func (s *Service) intentRecord(ctx context.Context, parts []*ent.Participant, partID int, scope string, seals []int) *EvidenceIntent {
	in := &EvidenceIntent{Scope: scope, Seals: seals}
	bits := strings.Split(scope, ":")
	if len(bits) == 4 && len(bits[2]) >= 8 {
		in.Fingerprint = bits[2][:8]
		in.BoundTo = fmt.Sprintf("合同 %s、签署方 %s、签署时全部文件当前版本的指纹 %s（短信中显示 %s）、本次签署的位置与印章 %s",
			strings.TrimPrefix(bits[0], "f"), strings.TrimPrefix(bits[1], "p"), bits[2], in.Fingerprint, bits[3])
	}
	var phone string
	for _, p := range parts {
		if p.ID == partID {
			phone = p.Phone
		}
	}
	code, err := s.db.SMSCode.Query().Where(smscode.Phone(phone), smscode.Purpose(string(PurposeIntent)), smscode.Scope(scope),
		smscode.ConsumedAtNotNil()).Order(ent.Desc(smscode.FieldCreatedAt)).First(viewer.System(ctx))
	if err == nil {
		in.CodeSentAt, in.ConfirmedAt = utc(&code.CreatedAt), utc(code.ConsumedAt)
	}
	return in
}

// fieldParticipant reads the participant from a signature field name
// (Signet-P<participant>-R<revision>-<n>, see signOnce); 0 otherwise.
func fieldParticipant(name string) int {
	rest, ok := strings.CutPrefix(name, "Signet-P")
	if !ok {
		return 0
	}
	id, _, _ := strings.Cut(rest, "-")
	n, _ := strconv.Atoi(id)
	return n
}

func evidenceCert(c *verify.Certificate) *EvidenceCert {
	return &EvidenceCert{Subject: c.Subject, Serial: c.Serial, Issuer: c.Issuer, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), SHA256: c.SHA256}
}

func hasCert(cs []EvidenceCert, sum string) bool {
	for _, c := range cs {
		if c.SHA256 == sum {
			return true
		}
	}
	return false
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// evidenceHTML renders the report for reading and printing.
var evidenceHTML = template.Must(template.New("evidence").Funcs(template.FuncMap{
	"cst": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.In(shanghai()).Format("2006-01-02 15:04:05")
		case *time.Time:
			if v != nil {
				return v.In(shanghai()).Format("2006-01-02 15:04:05")
			}
		}
		return "—"
	},
	"label": func(s string) string {
		switch s {
		case "valid":
			return "有效"
		case "invalid":
			return "无效"
		case "not_platform":
			return "非本平台签署"
		case "untrusted":
			return "不受信任"
		case "signature":
			return "签名"
		case "doc_timestamp":
			return "文档时间戳"
		case "good":
			return "未吊销"
		case "revoked":
			return "已吊销"
		}
		return s
	},
}).Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{{.Title}} · {{.Flow.Name}}</title>
<style>
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222;font-size:14px}
h1{font-size:22px}h2{font-size:17px;margin-top:2em;border-bottom:2px solid #c00;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:.5em 0}th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f5f5f5;white-space:nowrap}.mono{font-family:monospace;font-size:12px;word-break:break-all}.ok{color:#070}.bad{color:#c00}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.Platform}} · 生成时间 {{cst .GeneratedAt}}（北京时间）</p>
<h2>合同信息</h2>
<table>
<tr><th>任务名称</th><td>{{.Flow.Name}}</td><th>任务编号</th><td>{{.Flow.Number}}</td></tr>
<tr><th>发起方</th><td>{{.Flow.Initiator}}（{{.Flow.InitiatorPhone}}）</td><th>状态</th><td>{{.Flow.Status}}</td></tr>
<tr><th>创建时间</th><td>{{cst .Flow.CreatedAt}}</td><th>发起时间</th><td>{{cst .Flow.SentAt}}</td></tr>
<tr><th>完成时间</th><td>{{cst .Flow.FinishedAt}}</td><th>截止时间</th><td>{{cst .Flow.Deadline}}</td></tr>
</table>
<h2>合同文件</h2>
{{range .Documents}}
<table>
<tr><th>文件名称</th><td>{{.Name}}{{if .ContractNumber}}（编号 {{.ContractNumber}}）{{end}}，{{.Pages}}页，{{.Revisions}}个版本</td></tr>
<tr><th>原始文件 SHA-256</th><td class="mono">{{.OriginalSHA256}}（{{.OriginalSize}} 字节）</td></tr>
<tr><th>最终文件 SHA-256</th><td class="mono">{{.FinalSHA256}}（{{.FinalSize}} 字节）</td></tr>
<tr><th>验证结果</th><td class="{{if eq .Verdict "valid"}}ok{{else}}bad{{end}}">{{label .Verdict}}：{{.Summary}}</td></tr>
</table>
<table><tr><th>#</th><th>类型</th><th>签署方</th><th>证书</th><th>时间</th><th>结果</th></tr>
{{range .Signatures}}<tr><td>{{.Index}}</td><td>{{label .Kind}}</td><td>{{.Name}}</td>
<td>{{with .Certificate}}{{.Subject}}<br><span class="mono">序列号 {{.Serial}}</span><br>颁发者 {{.Issuer}}{{end}}</td>
<td>{{cst .SigningTime}}{{if .TimestampTrusted}}（可信时间戳）{{end}}</td>
<td class="{{if eq .Status "valid"}}ok{{else}}bad{{end}}">{{label .Status}} {{label .Revocation}}</td></tr>{{end}}
</table>
{{end}}
<h2>签署方</h2>
{{range .Signers}}
<table>
<tr><th>签署方</th><td>{{.Name}}{{if .Enterprise}}（{{.Enterprise}}）{{end}}，{{.MaskedPhone}}，顺序 {{.Order}}</td></tr>
<tr><th>签署时间</th><td>{{cst .SignedAt}}{{range .Timestamps}}；时间戳 {{cst .}}{{end}}</td></tr>
<tr><th>证书</th><td>{{range .Certificates}}{{.Subject}}<br><span class="mono">序列号 {{.Serial}}，颁发者 {{.Issuer}}，有效期 {{cst .NotBefore}} 至 {{cst .NotAfter}}</span><br>{{end}}</td></tr>
{{with .Intent}}<tr><th>意愿认证</th><td>验证码发送 {{cst .CodeSentAt}}，确认 {{cst .ConfirmedAt}}<br>绑定：{{.BoundTo}}<br><span class="mono">{{.Scope}}</span></td></tr>{{end}}
</table>
{{end}}
{{if .CC}}<h2>抄送人</h2><table>{{range .CC}}<tr><td>{{.Name}}</td><td>{{.MaskedPhone}}</td></tr>{{end}}</table>{{end}}
<h2>签署轨迹</h2>
<table><tr><th>#</th><th>时间</th><th>操作人</th><th>事件</th><th>对象</th><th>IP</th><th>哈希</th></tr>
{{range .Trail}}<tr><td>{{.Seq}}</td><td>{{cst .Time}}</td><td>{{.Actor}}</td><td>{{.Label}}</td><td>{{.Subject}}</td><td>{{.IP}}</td><td class="mono">{{.Hash}}</td></tr>{{end}}
</table>
<h2>轨迹完整性</h2>
<p class="{{if .Chain.OK}}ok{{else}}bad{{end}}">{{if .Chain.OK}}哈希链校验通过{{else}}哈希链校验未通过{{end}}：共 {{.Chain.Events}} 条事件，最后一条 #{{.Chain.LastSeq}}，哈希 <span class="mono">{{.Chain.LastHash}}</span></p>
{{range .Chain.Problems}}<p class="bad">{{.}}</p>{{end}}
<p>本报告的 JSON 版本由平台时间戳服务加盖 RFC 3161 时间戳（证据报告.json.tsr），可用 <code>openssl ts -verify</code> 校验。</p>
</body></html>
`))
