package accounts

import (
	"strings"

	"signet/errs"
	"signet/sms"
)

// NormalizePhone trims spaces and a +86/86 prefix and checks that what is
// left is a mainland mobile number (11 digits starting with 1[3-9]).
func NormalizePhone(field, phone string) (string, error) {
	p := strings.ReplaceAll(strings.TrimSpace(phone), " ", "")
	p = strings.TrimPrefix(p, "+86")
	if len(p) == 13 && strings.HasPrefix(p, "86") {
		p = p[2:]
	}
	if !sms.ValidPhone(p) {
		return "", errs.InvalidField(field, "请输入正确的11位手机号")
	}
	return p, nil
}

// MaskPhone shows the first three and last four digits: 138****8000.
func MaskPhone(phone string) string {
	if len(phone) != 11 {
		return "***"
	}
	return phone[:3] + "****" + phone[7:]
}
