package ukey

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Purpose says what a challenge's signature is for.
type Purpose string

// Challenge purposes.
const (
	PurposeLogin Purpose = "login" // certificate login (ACC-4)
	PurposeBind  Purpose = "bind"  // binding a UKey to the logged-in account (ACC-8)
	// PurposeBindEnterprise binds an enterprise's UKey to its custody record
	// in the enterprise console (ENT-1): the administrator proves the token
	// holds the key of the certificate being bound.
	PurposeBindEnterprise Purpose = "bind_enterprise"
)

// Known reports whether p is one of the purposes above.
func (p Purpose) Known() bool {
	return p == PurposeLogin || p == PurposeBind || p == PurposeBindEnterprise
}

// challengeHeader is the first line of every challenge text. It keeps a
// challenge's digest apart from every other thing a UKey signs (a PAdES
// digest is the hash of DER, which starts with 0x31, never with this text).
const challengeHeader = "Signet UKey challenge v1"

// Challenge is a server challenge: a single-use random nonce for one purpose
// and one origin, valid until ExpiresAt. The key signs SHA-256 of Text().
type Challenge struct {
	Purpose Purpose
	// Origin is the Signet origin (scheme://host[:port]) the page runs on.
	Origin string
	// Nonce is random, base64url without padding.
	Nonce string
	// ExpiresAt is whole seconds, UTC.
	ExpiresAt time.Time
}

// Text is the exact text that is hashed and signed:
//
//	Signet UKey challenge v1
//	purpose: login
//	origin: https://sign.example.com
//	nonce: 3q2-7w…
//	expires: 2026-11-27T10:02:00Z
func (c Challenge) Text() string {
	return challengeHeader + "\n" +
		"purpose: " + string(c.Purpose) + "\n" +
		"origin: " + c.Origin + "\n" +
		"nonce: " + c.Nonce + "\n" +
		"expires: " + c.ExpiresAt.UTC().Format(time.RFC3339) + "\n"
}

// Digest is SHA-256 of Text(), what the key signs.
func (c Challenge) Digest() []byte {
	sum := sha256.Sum256([]byte(c.Text()))
	return sum[:]
}

// ErrBadChallenge is returned for text that is not a challenge.
var ErrBadChallenge = errors.New("ukey: not a Signet challenge")

// ParseChallenge parses a challenge text strictly: the lines in order, a
// known purpose, an origin of scheme and host only, a nonce of at least 16
// random bytes, an RFC 3339 expiry. Text that ParseChallenge accepts
// re-serialises to itself.
func ParseChallenge(text string) (Challenge, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 6 || lines[0] != challengeHeader || lines[5] != "" {
		return Challenge{}, ErrBadChallenge
	}
	field := func(line, name string) (string, error) {
		v, ok := strings.CutPrefix(line, name+": ")
		if !ok || v == "" {
			return "", fmt.Errorf("%w: %s", ErrBadChallenge, name)
		}
		return v, nil
	}
	var c Challenge
	p, err := field(lines[1], "purpose")
	if err != nil {
		return Challenge{}, err
	}
	c.Purpose = Purpose(p)
	if !c.Purpose.Known() {
		return Challenge{}, fmt.Errorf("%w: purpose %q", ErrBadChallenge, p)
	}
	if c.Origin, err = field(lines[2], "origin"); err != nil {
		return Challenge{}, err
	}
	if err := CheckOrigin(c.Origin); err != nil {
		return Challenge{}, fmt.Errorf("%w: %v", ErrBadChallenge, err)
	}
	if c.Nonce, err = field(lines[3], "nonce"); err != nil {
		return Challenge{}, err
	}
	if raw, err := base64.RawURLEncoding.DecodeString(c.Nonce); err != nil || len(raw) < 16 {
		return Challenge{}, fmt.Errorf("%w: nonce", ErrBadChallenge)
	}
	exp, err := field(lines[4], "expires")
	if err != nil {
		return Challenge{}, err
	}
	if c.ExpiresAt, err = time.Parse(time.RFC3339, exp); err != nil || c.ExpiresAt.Location() != time.UTC {
		return Challenge{}, fmt.Errorf("%w: expires", ErrBadChallenge)
	}
	if c.Text() != text {
		return Challenge{}, ErrBadChallenge
	}
	return c, nil
}

// CheckOrigin reports whether s is a web origin as browsers send it in the
// Origin header: http or https, a host, an optional port, nothing else.
func CheckOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("origin %q: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || s != u.Scheme+"://"+u.Host {
		return fmt.Errorf("origin %q is not scheme://host[:port]", s)
	}
	return nil
}

// OriginOf returns the origin of a URL such as Signet's base URL.
func OriginOf(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("origin of %q: %v", rawURL, err)
	}
	o := u.Scheme + "://" + u.Host
	if err := CheckOrigin(o); err != nil {
		return "", err
	}
	return o, nil
}
