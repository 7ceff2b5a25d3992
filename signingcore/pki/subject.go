package pki

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"signet/errs"
)

// Subject field limits from X.520 (ub-common-name, ub-organization-name,
// ub-serial-number).
const (
	maxNameRunes      = 64
	maxSubjectIDRunes = 64
)

// PseudonymousID derives the identifier a person certificate carries in its
// serialNumber from a resident ID number: "ID-" and the first 16 bytes of
// HMAC-SHA256 under key, in hex. The same ID number always gives the same
// identifier, so a renewed certificate names the same person, but the ID
// number cannot be recovered from it.
//
// The key must be secret and at least 16 bytes. A plain or publicly salted
// hash is not enough: 18-digit ID numbers have so little entropy (region,
// birth date, sequence) that all of them can be hashed in hours.
func PseudonymousID(key []byte, idNumber string) (string, error) {
	if len(key) < 16 {
		return "", errors.New("pseudonymous id: key shorter than 16 bytes")
	}
	id := strings.ToUpper(strings.TrimSpace(idNumber))
	if id == "" {
		return "", errs.InvalidField("idNumber", "身份证号码不能为空")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	h := hex.EncodeToString(m.Sum(nil)[:16])
	if containsResidentID(h) {
		// Hex digits sometimes line up as something an ID number could be
		// (a run of 15 digits with a plausible birth date), which the
		// subject's check refuses — for that person for ever, since the
		// identifier is always the same. Theirs is grouped by dashes,
		// which leaves no run longer than 8 digits; everyone else's stays
		// the plain hex it always was.
		h = h[:8] + "-" + h[8:16] + "-" + h[16:24] + "-" + h[24:]
	}
	return "ID-" + h, nil
}

// checkName validates a person's or enterprise's name for CN/O.
func checkName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", errs.InvalidField(field, "名称不能为空")
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameRunes {
		return "", errs.InvalidField(field, "名称过长或含有无效字符（最多64个字符）")
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "", errs.InvalidField(field, "名称含有无效字符")
		}
	}
	return name, nil
}

// checkSubjectID validates a person's pseudonymous identifier.
func checkSubjectID(id string) (string, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return "", errs.InvalidField("subjectID", "用户标识不能为空")
	}
	if len(id) > maxSubjectIDRunes {
		return "", errs.InvalidField("subjectID", "用户标识过长（最多64个字符）")
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '.' || r == ':' || r == '_'
		if !ok {
			return "", errs.InvalidField("subjectID", "用户标识只能包含字母、数字和 - . : _")
		}
	}
	return id, nil
}

// errIDNumber is returned when a subject field holds a resident ID number.
func errIDNumber(field string) error {
	return errs.InvalidField(field, "证书中不得包含身份证号码，请使用平台用户标识或其不可逆摘要")
}

// containsResidentID reports whether s contains something that looks like a
// PRC resident ID number: 18 characters (17 digits and a digit or X) with a
// plausible birth date and a valid GB 11643 check character, or an old
// 15-digit number with a plausible birth date. Runs of digits longer than 18
// are not ID numbers and are left alone, so long numeric platform IDs pass.
func containsResidentID(s string) bool {
	s = strings.ToUpper(s)
	for i := 0; i < len(s); {
		if s[i] < '0' || s[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(s) && (s[j] >= '0' && s[j] <= '9') {
			j++
		}
		run := s[i:j]
		if j < len(s) && s[j] == 'X' {
			run = s[i : j+1]
			j++
		}
		if isResidentID(run) {
			return true
		}
		i = j
	}
	return false
}

func isResidentID(s string) bool {
	switch len(s) {
	case 18:
		for k := 0; k < 17; k++ {
			if s[k] < '0' || s[k] > '9' {
				return false
			}
		}
		if !plausibleDate(s[6:14]) {
			return false
		}
		weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
		sum := 0
		for k := 0; k < 17; k++ {
			sum += int(s[k]-'0') * weights[k]
		}
		return s[17] == "10X98765432"[sum%11]
	case 15:
		for k := 0; k < 15; k++ {
			if s[k] < '0' || s[k] > '9' {
				return false
			}
		}
		return plausibleDate("19" + s[6:12])
	}
	return false
}

func plausibleDate(yyyymmdd string) bool {
	t, err := time.Parse("20060102", yyyymmdd)
	return err == nil && t.Year() >= 1850 && t.Year() <= 2100
}

// uscc is the character set of the unified social credit code (GB 32100-2015):
// digits and upper-case letters without I, O, S, V and Z.
const uscc = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// CheckCreditCode validates a unified social credit code (统一社会信用代码)
// and returns it in canonical upper case, or an errs.Invalid error.
func CheckCreditCode(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	bad := errs.InvalidField("creditCode", "统一社会信用代码格式不正确")
	if len(code) != 18 {
		return "", bad
	}
	weights := [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for k := 0; k < 18; k++ {
		v := strings.IndexByte(uscc, code[k])
		if v < 0 {
			return "", bad
		}
		if k < 17 {
			sum += v * weights[k]
		}
	}
	check := (31 - sum%31) % 31
	if code[17] != uscc[check] {
		return "", bad
	}
	return code, nil
}
