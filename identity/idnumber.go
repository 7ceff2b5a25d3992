package identity

import (
	"strings"
	"time"

	"signet/errs"
)

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// CheckIDNumber validates an 18-digit resident ID number (GB 11643-1999):
// 17 digits, a real birth date not in the future, and the ISO 7064 MOD 11-2
// check character (0–9 or X). It returns the number with an upper-case X,
// or an errs.Invalid error naming field.
func CheckIDNumber(field, s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 18 {
		return "", errs.InvalidField(field, "身份证号应为18位")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return "", errs.InvalidField(field, "身份证号格式不正确")
		}
		sum += int(c-'0') * idWeights[i]
	}
	if c := s[17]; !(c >= '0' && c <= '9') && c != 'X' {
		return "", errs.InvalidField(field, "身份证号格式不正确")
	}
	birth, err := time.Parse("20060102", s[6:14])
	if err != nil || birth.Year() < 1900 || birth.After(time.Now()) {
		return "", errs.InvalidField(field, "身份证号中的出生日期不正确")
	}
	if idCheckChars[sum%11] != s[17] {
		return "", errs.InvalidField(field, "身份证号校验位不正确，请核对后重新填写")
	}
	return s, nil
}

// MaskIDNumber shows the first and last four characters: 1101**********123X.
func MaskIDNumber(s string) string {
	if len(s) < 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:4] + strings.Repeat("*", len(s)-8) + s[len(s)-4:]
}

// CheckBankCard validates a bank card number: 16–19 digits with a valid Luhn
// check digit. Spaces are removed.
func CheckBankCard(field, s string) (string, error) {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if len(s) < 16 || len(s) > 19 {
		return "", errs.InvalidField(field, "银行卡号应为16至19位数字")
	}
	sum := 0
	for i := 0; i < len(s); i++ {
		c := s[len(s)-1-i]
		if c < '0' || c > '9' {
			return "", errs.InvalidField(field, "银行卡号应为16至19位数字")
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if sum%10 != 0 {
		return "", errs.InvalidField(field, "银行卡号不正确，请核对后重新填写")
	}
	return s, nil
}

// MaskCard shows only the last four digits of a card or account number.
func MaskCard(s string) string {
	if len(s) <= 4 {
		return s
	}
	return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
}

// CheckName validates a person's real name: 2–30 characters, no digits.
func CheckName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	n := len([]rune(s))
	if n < 2 || n > 30 {
		return "", errs.InvalidField(field, "请输入2至30个字的真实姓名")
	}
	if strings.ContainsAny(s, "0123456789<>\"'&") {
		return "", errs.InvalidField(field, "姓名中不能包含数字或特殊符号")
	}
	return s, nil
}
