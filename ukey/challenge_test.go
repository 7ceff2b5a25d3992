package ukey

import (
	"strings"
	"testing"
	"time"
)

func TestChallengeRoundTrip(t *testing.T) {
	c := Challenge{Purpose: PurposeBind, Origin: "https://sign.example.com", Nonce: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		ExpiresAt: time.Date(2026, 11, 27, 10, 2, 0, 0, time.UTC)}
	want := "Signet UKey challenge v1\npurpose: bind\norigin: https://sign.example.com\nnonce: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\nexpires: 2026-11-27T10:02:00Z\n"
	if got := c.Text(); got != want {
		t.Fatalf("text:\n%s\nwant:\n%s", got, want)
	}
	got, err := ParseChallenge(want)
	if err != nil || got != c {
		t.Fatalf("parse: %+v, %v", got, err)
	}
	if len(c.Digest()) != 32 {
		t.Fatal("digest size")
	}
	c.Purpose = PurposeBindEnterprise
	if got, err := ParseChallenge(c.Text()); err != nil || got != c || !strings.Contains(c.Text(), "purpose: bind_enterprise\n") {
		t.Fatalf("enterprise binding: %+v, %v", got, err)
	}
}

func TestParseChallengeRefuses(t *testing.T) {
	good := Challenge{Purpose: PurposeLogin, Origin: "http://localhost:8080", Nonce: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		ExpiresAt: time.Date(2026, 11, 27, 10, 2, 0, 0, time.UTC)}.Text()
	for name, text := range map[string]string{
		"empty":          "",
		"other header":   strings.Replace(good, "v1", "v2", 1),
		"purpose":        strings.Replace(good, "purpose: login", "purpose: sign", 1),
		"origin path":    strings.Replace(good, "http://localhost:8080", "http://localhost:8080/x", 1),
		"origin scheme":  strings.Replace(good, "http://localhost:8080", "file://localhost", 1),
		"short nonce":    strings.Replace(good, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", "AAEC", 1),
		"zone":           strings.Replace(good, "10:02:00Z", "18:02:00+08:00", 1),
		"extra line":     good + "amount: 1\n",
		"no final break": strings.TrimSuffix(good, "\n"),
		"reordered":      strings.Replace(good, "purpose: login\norigin: http://localhost:8080\n", "origin: http://localhost:8080\npurpose: login\n", 1),
		"CRLF":           strings.ReplaceAll(good, "\n", "\r\n"),
	} {
		if _, err := ParseChallenge(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseChallenge(good); err != nil {
		t.Fatalf("good: %v", err)
	}
}
