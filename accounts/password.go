package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"signet/errs"
)

// CheckPasswordPolicy enforces ACC-1's policy: 8–16 characters with at least
// three of upper case, lower case, digits and special characters, and the
// confirmation equal to the password. field names the input for errors.
func CheckPasswordPolicy(field, password, confirm string) error {
	n := utf8.RuneCountInString(password)
	if n < 8 || n > 16 {
		return errs.InvalidField(field, "密码长度须为8-16位")
	}
	var upper, lower, digit, special bool
	for _, r := range password {
		switch {
		case r > unicode.MaxASCII || unicode.IsSpace(r) || !unicode.IsPrint(r):
			return errs.InvalidField(field, "密码只能包含大小写字母、数字和英文特殊字符，不能包含空格")
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		default:
			special = true
		}
	}
	classes := 0
	for _, ok := range []bool{upper, lower, digit, special} {
		if ok {
			classes++
		}
	}
	if classes < 3 {
		return errs.InvalidField(field, "密码须包含大写字母、小写字母、数字、特殊字符中的至少三种")
	}
	if password != confirm {
		return errs.InvalidField(field+"Confirm", "两次输入的密码不一致")
	}
	return nil
}

// PasswordHasher hashes passwords with argon2id and encodes them in the PHC
// string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so the cost can be
// raised later without invalidating stored hashes.
type PasswordHasher struct {
	memoryKiB   uint32
	iterations  uint32
	parallelism uint8

	dummyOnce sync.Once
	dummyHash string
}

// NewPasswordHasher returns a hasher with the argon2id cost.
func NewPasswordHasher(memoryKiB, iterations uint32, parallelism uint8) *PasswordHasher {
	return &PasswordHasher{memoryKiB: memoryKiB, iterations: iterations, parallelism: parallelism}
}

const argonKeyLen = 32

// Hash returns the PHC string of password with a fresh 16-byte salt.
func (h *PasswordHasher) Hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, h.iterations, h.memoryKiB, h.parallelism, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memoryKiB, h.iterations, h.parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded, using the
// cost stored in it.
func (h *PasswordHasher) Verify(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("verify: not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("verify: unsupported argon2 version %q", parts[2])
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("verify: parameters: %w", err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("verify: salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("verify: hash: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummy returns a valid hash of a random password, used to spend the same
// time on logins for unknown accounts.
func (h *PasswordHasher) dummy() string {
	h.dummyOnce.Do(func() {
		h.dummyHash, _ = h.Hash("dummy-password-Aa1!")
	})
	return h.dummyHash
}
