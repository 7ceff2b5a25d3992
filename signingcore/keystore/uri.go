package keystore

import (
	"fmt"
	"sort"
	"strings"

	"signet/errs"
)

// PKCS11URI is a parsed RFC 7512 PKCS#11 URI such as
//
//	pkcs11:token=Signet%20HSM;object=root-ca;id=%01%02;type=private
//
// Path attributes select a token and an object; the query may name the module.
// PINs are never carried in a URI: ParsePKCS11URI rejects the pin-value and
// pin-source query attributes, so a PIN cannot leak through a URI that is
// stored, logged or shown.
type PKCS11URI struct {
	// Token is the token label (CKA_LABEL of the token, "token=").
	Token string
	// Manufacturer is the token's manufacturer ID ("manufacturer=").
	Manufacturer string
	// Serial is the token's serial number ("serial=").
	Serial string
	// Model is the token's model ("model=").
	Model string
	// Object is the object's CKA_LABEL ("object=").
	Object string
	// ID is the object's CKA_ID ("id="); nil when absent.
	ID []byte
	// Type is the object class: "private", "public", "cert", "secret-key" or
	// "data"; empty when absent.
	Type string
	// ModuleName and ModulePath are the query attributes naming the PKCS#11
	// module; informational, the module is chosen by configuration.
	ModuleName, ModulePath string
	// Other holds the remaining standard attributes (library-*, slot-*) and
	// vendor attributes ("x-…"), decoded. They are kept for formatting but do
	// not narrow a search.
	Other map[string]string
}

// isPathAttr reports whether name is an RFC 7512 path attribute.
func isPathAttr(name string) bool {
	switch name {
	case "token", "manufacturer", "serial", "model",
		"library-manufacturer", "library-description", "library-version",
		"object", "type", "id",
		"slot-description", "slot-manufacturer", "slot-id":
		return true
	}
	return false
}

// isObjectType reports whether v is a value RFC 7512 allows for "type".
func isObjectType(v string) bool {
	switch v {
	case "public", "private", "cert", "secret-key", "data":
		return true
	}
	return false
}

// ParsePKCS11URI parses an RFC 7512 URI. It returns an errs.Invalid error for
// a malformed URI, for unknown or repeated attributes, and for a URI that
// carries a PIN (pin-value or pin-source): PINs come from configuration only.
// Error messages never repeat the URI's query.
func ParsePKCS11URI(s string) (*PKCS11URI, error) {
	const scheme = "pkcs11:"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return nil, invalidURI("not a pkcs11: URI")
	}
	rest := s[len(scheme):]
	path, query, hasQuery := strings.Cut(rest, "?")
	u := &PKCS11URI{}
	seen := map[string]bool{}
	if path != "" {
		for _, attr := range strings.Split(path, ";") {
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return nil, invalidURI("path attribute without a name=value form")
			}
			name = strings.ToLower(name)
			if !isPathAttr(name) && !strings.HasPrefix(name, "x-") {
				return nil, invalidURI(fmt.Sprintf("unknown path attribute %q", name))
			}
			if seen[name] {
				return nil, invalidURI(fmt.Sprintf("attribute %q repeated", name))
			}
			seen[name] = true
			val, err := pctDecode(raw, isPathChar)
			if err != nil {
				return nil, invalidURI(fmt.Sprintf("attribute %q: %v", name, err))
			}
			switch name {
			case "token":
				u.Token = string(val)
			case "manufacturer":
				u.Manufacturer = string(val)
			case "serial":
				u.Serial = string(val)
			case "model":
				u.Model = string(val)
			case "object":
				u.Object = string(val)
			case "id":
				if len(val) == 0 {
					return nil, invalidURI("empty id attribute")
				}
				u.ID = val
			case "type":
				if !isObjectType(string(val)) {
					return nil, invalidURI(fmt.Sprintf("unknown object type %q", val))
				}
				u.Type = string(val)
			default:
				if u.Other == nil {
					u.Other = map[string]string{}
				}
				u.Other[name] = string(val)
			}
		}
	}
	if hasQuery && query != "" {
		for _, attr := range strings.Split(query, "&") {
			name, raw, ok := strings.Cut(attr, "=")
			name = strings.ToLower(name)
			if name == "pin-value" || name == "pin-source" {
				// Do not echo anything of the attribute: it may be a PIN.
				return nil, errs.InvalidField("uri", "密钥地址中不允许包含 PIN（pin-value/pin-source），PIN 只能通过配置提供")
			}
			if !ok || name == "" {
				return nil, invalidURI("query attribute without a name=value form")
			}
			if name != "module-name" && name != "module-path" && !strings.HasPrefix(name, "x-") {
				return nil, invalidURI(fmt.Sprintf("unknown query attribute %q", name))
			}
			if seen["?"+name] {
				return nil, invalidURI(fmt.Sprintf("attribute %q repeated", name))
			}
			seen["?"+name] = true
			val, err := pctDecode(raw, isQueryChar)
			if err != nil {
				return nil, invalidURI(fmt.Sprintf("attribute %q: %v", name, err))
			}
			switch name {
			case "module-name":
				u.ModuleName = string(val)
			case "module-path":
				u.ModulePath = string(val)
			default:
				if u.Other == nil {
					u.Other = map[string]string{}
				}
				u.Other["?"+name] = string(val)
			}
		}
	}
	return u, nil
}

// String formats the URI. Every byte outside RFC 3986's unreserved set is
// percent-encoded, and so is every byte of the ID, as RFC 7512 recommends.
func (u *PKCS11URI) String() string {
	var path []string
	add := func(name, val string) {
		if val != "" {
			path = append(path, name+"="+pctEncode([]byte(val), false))
		}
	}
	add("token", u.Token)
	add("manufacturer", u.Manufacturer)
	add("serial", u.Serial)
	add("model", u.Model)
	add("object", u.Object)
	add("type", u.Type)
	if len(u.ID) > 0 {
		path = append(path, "id="+pctEncode(u.ID, true))
	}
	var query []string
	if u.ModuleName != "" {
		query = append(query, "module-name="+pctEncode([]byte(u.ModuleName), false))
	}
	if u.ModulePath != "" {
		query = append(query, "module-path="+pctEncode([]byte(u.ModulePath), false))
	}
	names := make([]string, 0, len(u.Other))
	for name := range u.Other {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		val := pctEncode([]byte(u.Other[name]), false)
		if q, ok := strings.CutPrefix(name, "?"); ok {
			query = append(query, q+"="+val)
		} else {
			path = append(path, name+"="+val)
		}
	}
	s := "pkcs11:" + strings.Join(path, ";")
	if len(query) > 0 {
		s += "?" + strings.Join(query, "&")
	}
	return s
}

func invalidURI(detail string) error {
	return errs.Wrap(fmt.Errorf("keystore: parse URI: %s", detail), errs.Invalid, "密钥地址（URI）格式不正确")
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// isPathChar reports RFC 7512 pk11-pchar minus pct-encoded.
func isPathChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=&", c) >= 0
}

// isQueryChar reports RFC 7512 pk11-qchar minus pct-encoded.
func isQueryChar(c byte) bool {
	return isUnreserved(c) || strings.IndexByte(":[]@!$'()*+,=/?|", c) >= 0
}

func pctEncode(b []byte, all bool) string {
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		if !all && isUnreserved(c) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&0xf])
	}
	return sb.String()
}

func pctDecode(s string, allowed func(byte) bool) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) {
				return nil, fmt.Errorf("truncated percent-encoding")
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("bad percent-encoding")
			}
			out = append(out, hi<<4|lo)
			i += 2
			continue
		}
		if !allowed(c) {
			return nil, fmt.Errorf("character %q must be percent-encoded", c)
		}
		out = append(out, c)
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
