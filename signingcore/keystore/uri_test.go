package keystore_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"signet/errs"
	"signet/signingcore/keystore"
)

func TestParsePKCS11URI(t *testing.T) {
	tests := []struct {
		in   string
		want keystore.PKCS11URI
	}{
		{"pkcs11:token=Signet%20HSM;object=root-ca;id=%01%02;type=private",
			keystore.PKCS11URI{Token: "Signet HSM", Object: "root-ca", ID: []byte{1, 2}, Type: "private"}},
		{"PKCS11:object=%E5%90%88%E5%90%8C%E7%AB%A0", keystore.PKCS11URI{Object: "合同章"}},
		{"pkcs11:id=ab%cd;serial=DECC0401648;manufacturer=SoftHSM%20project;model=SoftHSM%20v2",
			keystore.PKCS11URI{ID: []byte("ab\xcd"), Serial: "DECC0401648", Manufacturer: "SoftHSM project", Model: "SoftHSM v2"}},
		{"pkcs11:object=a:b@c!$'()*+,=&;type=cert", keystore.PKCS11URI{Object: "a:b@c!$'()*+,=&", Type: "cert"}},
		{"pkcs11:token=T?module-path=/usr/lib/softhsm/libsofthsm2.so&module-name=softhsm2",
			keystore.PKCS11URI{Token: "T", ModulePath: "/usr/lib/softhsm/libsofthsm2.so", ModuleName: "softhsm2"}},
		{"pkcs11:slot-id=3;x-vendor=v%20w", keystore.PKCS11URI{Other: map[string]string{"slot-id": "3", "x-vendor": "v w"}}},
		{"pkcs11:", keystore.PKCS11URI{}},
	}
	for _, tt := range tests {
		got, err := keystore.ParsePKCS11URI(tt.in)
		if err != nil {
			t.Errorf("ParsePKCS11URI(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("ParsePKCS11URI(%q) = %+v, want %+v", tt.in, *got, tt.want)
		}
		// Formatting and parsing again gives the same URI.
		again, err := keystore.ParsePKCS11URI(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("round trip of %q via %q = %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestParsePKCS11URIRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"other scheme", "soft:id=01"},
		{"no scheme", "token=x"},
		{"pin-value", "pkcs11:token=T;object=k?pin-value=123456"},
		{"PIN-VALUE upper case", "pkcs11:token=T?PIN-VALUE=123456"},
		{"pin-source", "pkcs11:token=T?pin-source=file:/etc/pin"},
		{"pin-value without value", "pkcs11:token=T?pin-value"},
		{"unknown attribute", "pkcs11:colour=red"},
		{"unknown query attribute", "pkcs11:token=T?colour=red"},
		{"repeated attribute", "pkcs11:token=a;token=b"},
		{"no value", "pkcs11:token"},
		{"raw space", "pkcs11:token=a b"},
		{"raw UTF-8", "pkcs11:object=合同章"},
		{"bad escape", "pkcs11:id=%zz"},
		{"truncated escape", "pkcs11:id=%0"},
		{"empty id", "pkcs11:id="},
		{"bad type", "pkcs11:type=secret"},
		{"slash in path", "pkcs11:object=a/b"},
	}
	for _, tt := range tests {
		_, err := keystore.ParsePKCS11URI(tt.in)
		if !errs.Is(err, errs.Invalid) {
			t.Errorf("%s: ParsePKCS11URI(%q) = %v, want an Invalid error", tt.name, tt.in, err)
			continue
		}
		if strings.Contains(err.Error(), "123456") || strings.Contains(err.Error(), "/etc/pin") {
			t.Errorf("%s: error repeats the PIN: %v", tt.name, err)
		}
	}
}

func TestPKCS11URIString(t *testing.T) {
	tests := []struct {
		in   keystore.PKCS11URI
		want string
	}{
		{keystore.PKCS11URI{Token: "Signet HSM", Object: "根证书", ID: []byte{0, 0xab}, Type: "private"},
			"pkcs11:token=Signet%20HSM;object=%E6%A0%B9%E8%AF%81%E4%B9%A6;type=private;id=%00%AB"},
		{keystore.PKCS11URI{Object: "a;b=c?d%"}, "pkcs11:object=a%3Bb%3Dc%3Fd%25"},
		{keystore.PKCS11URI{Token: "T", ModulePath: "/x y.so"}, "pkcs11:token=T?module-path=%2Fx%20y.so"},
		{keystore.PKCS11URI{}, "pkcs11:"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		back, err := keystore.ParsePKCS11URI(tt.want)
		if err != nil || back.Object != tt.in.Object || back.Token != tt.in.Token || !bytes.Equal(back.ID, tt.in.ID) {
			t.Errorf("ParsePKCS11URI(%q) = %+v, %v; want %+v", tt.want, back, err, tt.in)
		}
	}
}

func FuzzParsePKCS11URI(f *testing.F) {
	for _, s := range []string{"pkcs11:token=a;id=%01", "pkcs11:object=x?module-path=/a", "pkcs11:", "pkcs11:id=%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := keystore.ParsePKCS11URI(s)
		if err != nil {
			return
		}
		again, err := keystore.ParsePKCS11URI(u.String())
		if err != nil {
			t.Fatalf("formatted URI %q of %q does not parse: %v", u.String(), s, err)
		}
		if again.String() != u.String() {
			t.Fatalf("format not stable: %q then %q", u.String(), again.String())
		}
	})
}
