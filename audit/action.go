package audit

// Action is what an event records, from a closed vocabulary: Append refuses
// any other value, so a trail never holds a typo. Add new actions here, with
// their Chinese label.
type Action string

// The vocabulary. Names are "<subject>.<past tense>".
const (
	FlowCreated         Action = "flow.created"
	FlowUpdated         Action = "flow.updated"
	FlowDocumentAdded   Action = "flow.document_added"
	FlowDocumentRemoved Action = "flow.document_removed"
	FlowSent            Action = "flow.sent"
	FlowReminded        Action = "flow.reminded"
	FlowRevoked         Action = "flow.revoked"
	FlowDeclined        Action = "flow.declined"
	FlowExpired         Action = "flow.expired"
	FlowCompleted       Action = "flow.completed"
	FlowDeleted         Action = "flow.deleted"
	FlowDownloaded      Action = "flow.downloaded"
	FlowEmailed         Action = "flow.emailed"

	ParticipantNotified      Action = "participant.notified"
	ParticipantViewed        Action = "participant.viewed"
	ParticipantPhoneVerified Action = "participant.phone_verified"
	ParticipantPasscodeOK    Action = "participant.passcode_verified"
	ParticipantIntentOK      Action = "participant.intent_verified"
	ParticipantSigned        Action = "participant.signed"
	ParticipantDeclined      Action = "participant.declined"
	ParticipantCCNotified    Action = "participant.cc_notified"

	DocumentSigned      Action = "document.signed"
	DocumentTimestamped Action = "document.timestamped"
	EvidenceGenerated   Action = "evidence.generated"

	// Personal real-name verification (on the user's chain, UserChain).
	IdentityVerified Action = "identity.verified"
	UKeyBound        Action = "user.ukey_bound"
	UKeyUnbound      Action = "user.ukey_unbound"
	IdentityFailed   Action = "identity.failed"

	// Enterprise certification (on the enterprise's chain "enterprise:<id>", enterprises.AuditChain).
	CertificationStarted   Action = "certification.started"
	CertificationSubmitted Action = "certification.submitted"
	CertificationApproved  Action = "certification.approved"
	CertificationRejected  Action = "certification.rejected"
	CertificationRevoked   Action = "certification.revoked"
	CertificationContinued Action = "certification.continued"
	RecertificationStarted Action = "recertification.started"
	CertDocumentUploaded   Action = "certification.document_uploaded"

	// Joining an enterprise.
	JoinRequested Action = "join.requested"
	JoinRevoked   Action = "join.revoked"
	JoinApproved  Action = "join.approved"
	JoinRejected  Action = "join.rejected"

	// The enterprise console.
	OrganizationUpdated Action = "organization.updated"
	MemberAdded         Action = "member.added"
	MemberUpdated       Action = "member.updated"
	MemberRemoved       Action = "member.removed"
	SealCreated         Action = "seal.created"
	SealEnabled         Action = "seal.enabled"
	SealDisabled        Action = "seal.disabled"
	SealVoided          Action = "seal.voided"
	SealGranted         Action = "seal.granted"
	SealGrantRevoked    Action = "seal.grant_revoked"
	CertificateIssued   Action = "certificate.issued"
	CertificateRenewed  Action = "certificate.renewed"
	CertificateRevoked  Action = "certificate.revoked"
	CertificateBound    Action = "certificate.ukey_bound"

	// Personal seals and QR pairing (on the user's chain, UserChain; package pairing).
	PairingCreated      Action = "pairing.created"
	HandwritingCaptured Action = "seal.handwriting_captured"
	SealDefaultSet      Action = "seal.default_set"
	SealDeleted         Action = "seal.deleted"
)

var actionLabels = map[Action]string{
	FlowCreated:         "创建合同",
	FlowUpdated:         "修改草稿",
	FlowDocumentAdded:   "添加文件",
	FlowDocumentRemoved: "删除文件",
	FlowSent:            "发起签署",
	FlowReminded:        "催签",
	FlowRevoked:         "撤销合同",
	FlowDeclined:        "拒签",
	FlowExpired:         "合同已过期",
	FlowCompleted:       "签署完成",
	FlowDeleted:         "删除合同",
	FlowDownloaded:      "下载合同",
	FlowEmailed:         "邮件发送合同",

	ParticipantNotified:      "发送签署通知",
	ParticipantViewed:        "查看合同",
	ParticipantPhoneVerified: "手机号验证通过",
	ParticipantPasscodeOK:    "查看密码验证通过",
	ParticipantIntentOK:      "意愿认证通过",
	ParticipantSigned:        "签署",
	ParticipantDeclined:      "拒绝签署",
	ParticipantCCNotified:    "抄送通知",

	DocumentSigned:      "文件数字签名",
	DocumentTimestamped: "加盖时间戳",
	EvidenceGenerated:   "生成证据报告",

	IdentityVerified: "个人实名认证通过",
	UKeyBound:        "绑定UKey",
	UKeyUnbound:      "解绑UKey",
	IdentityFailed:   "个人实名认证未通过",

	CertificationStarted:   "提交企业认证",
	CertificationSubmitted: "提交CA审核",
	CertificationApproved:  "企业认证通过",
	CertificationRejected:  "企业认证未通过",
	CertificationRevoked:   "撤销企业认证",
	CertificationContinued: "继续企业认证",
	RecertificationStarted: "发起企业重新认证",
	CertDocumentUploaded:   "上传认证材料",

	JoinRequested: "申请加入企业",
	JoinRevoked:   "撤销加入申请",
	JoinApproved:  "通过加入申请",
	JoinRejected:  "拒绝加入申请",

	OrganizationUpdated: "变更企业信息",
	MemberAdded:         "添加成员",
	MemberUpdated:       "编辑成员",
	MemberRemoved:       "移除成员",
	SealCreated:         "新建印章",
	SealEnabled:         "启用印章",
	SealDisabled:        "停用印章",
	SealVoided:          "作废印章",
	SealGranted:         "印章授权",
	SealGrantRevoked:    "撤销印章授权",
	CertificateIssued:   "签发证书",
	CertificateRenewed:  "续期证书",
	CertificateRevoked:  "吊销证书",
	CertificateBound:    "绑定UKey证书",

	PairingCreated:      "生成手写签名二维码",
	HandwritingCaptured: "添加手写签名",
	SealDefaultSet:      "设置默认印章",
	SealDeleted:         "删除印章",
}

// Known reports whether a is in the vocabulary.
func (a Action) Known() bool { _, ok := actionLabels[a]; return ok }

// Label is the Chinese text a trail shows for a; the raw value when unknown.
func (a Action) Label() string {
	if l, ok := actionLabels[a]; ok {
		return l
	}
	return string(a)
}

// Actions lists the vocabulary (in no particular order).
func Actions() []Action {
	out := make([]Action, 0, len(actionLabels))
	for a := range actionLabels {
		out = append(out, a)
	}
	return out
}
