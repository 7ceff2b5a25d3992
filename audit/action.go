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
