package accounts

import (
	"bytes"
	"strings"
	"testing"

	"signet/errs"
)

func TestCheckPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		pw, confirm string
		wantField   string // "" = accepted
	}{
		{"Abc12345", "Abc12345", ""},
		{"abc!2345", "abc!2345", ""},                 // lower, special, digit
		{"ABC!defg", "ABC!defg", ""},                 // upper, lower, special
		{"Abcdefg1234567!x", "Abcdefg1234567!x", ""}, // 16 chars
		{"Abc1234", "Abc1234", "password"},           // 7 chars
		{"Abcdefg1234567!xy", "Abcdefg1234567!xy", "password"},
		{"abcdefgh", "abcdefgh", "password"},   // one class
		{"abcdefg1", "abcdefg1", "password"},   // two classes
		{"Abc 12345", "Abc 12345", "password"}, // space
		{"Abc12345密", "Abc12345密", "password"}, // non-ASCII
		{"Abc12345", "Abc12346", "passwordConfirm"},
	} {
		err := CheckPasswordPolicy("password", tc.pw, tc.confirm)
		if tc.wantField == "" {
			if err != nil {
				t.Errorf("%q: %v, want accepted", tc.pw, err)
			}
			continue
		}
		e := errs.As(err)
		if e == nil || e.Code != errs.Invalid || e.Field != tc.wantField {
			t.Errorf("%q/%q: %v, want Invalid on %s", tc.pw, tc.confirm, err, tc.wantField)
		}
	}
}

func TestPasswordHasher(t *testing.T) {
	h := NewPasswordHasher(8*1024, 1, 1)
	enc, err := h.Hash("Abc12345")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("encoding %q", enc)
	}
	enc2, _ := h.Hash("Abc12345")
	if enc == enc2 {
		t.Error("two hashes of one password are equal: salt missing")
	}
	// A hasher with another cost still verifies: the cost is read from the hash.
	other := NewPasswordHasher(16*1024, 2, 1)
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"Abc12345", true}, {"Abc12346", false}, {"", false}} {
		got, err := other.Verify(enc, tc.pw)
		if err != nil || got != tc.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tc.pw, got, err, tc.want)
		}
	}
	if _, err := h.Verify("$2a$10$bcrypt", "x"); err == nil {
		t.Error("a bcrypt hash verified without error")
	}
}

func TestRandomDigits(t *testing.T) {
	counts := make([]int, 10)
	r := bytes.NewReader(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 1000))
	for range 100 {
		s, err := randomDigits(r, 6)
		if err != nil || len(s) != 6 {
			t.Fatalf("randomDigits = %q, %v", s, err)
		}
		for _, c := range s {
			counts[c-'0']++
		}
	}
	if _, err := randomDigits(bytes.NewReader(nil), 6); err == nil {
		t.Error("no error from an empty reader")
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"13800138000": "13800138000", " 138 0013 8000 ": "13800138000", "+8613800138000": "13800138000",
		"8613800138000": "13800138000", "12800138000": "", "1380013800": "", "abc": "", "": "",
	} {
		got, err := NormalizePhone("phone", in)
		if want == "" {
			if err == nil {
				t.Errorf("NormalizePhone(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got := MaskPhone("13800138000"); got != "138****8000" {
		t.Errorf("MaskPhone = %q", got)
	}
}

// BenchmarkArgon2id measures the password cost Signet ships with (OWASP's
// argon2id recommendation: 19 MiB, 2 passes, 1 lane) next to cheaper and
// dearer settings; see docs/benchmarks.md.
func BenchmarkArgon2id(b *testing.B) {
	for _, c := range []struct {
		name string
		m, t uint32
	}{{"m=8MiB,t=1", 8 * 1024, 1}, {"m=19MiB,t=2(default)", 19 * 1024, 2}, {"m=64MiB,t=3", 64 * 1024, 3}} {
		b.Run(c.name, func(b *testing.B) {
			h := NewPasswordHasher(c.m, c.t, 1)
			enc, _ := h.Hash("Abc12345")
			b.ResetTimer()
			for b.Loop() {
				if ok, _ := h.Verify(enc, "Abc12345"); !ok {
					b.Fatal("verify failed")
				}
			}
		})
	}
}

func TestAgreementTexts(t *testing.T) {
	for _, a := range CurrentAgreements() {
		if !strings.Contains(a.Content, "版本："+a.Version) || !strings.Contains(a.Content, a.Title) {
			t.Errorf("%s: the text does not state its title and version %s", a.Document, a.Version)
		}
	}
}
