package keystore_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"

	"signet/signingcore/keystore"
)

func TestECDSARawToDER(t *testing.T) {
	tests := []struct {
		name, raw, der string
	}{
		// r with the high bit set needs a leading zero byte in DER; s with
		// leading zero bytes is shortened.
		{"high bit and leading zeros",
			"80000000000000000000000000000000000000000000000000000000000000010000000000000000000000000000000000000000000000000000000000000002",
			"3026" + "022100" + "80" + strings.Repeat("00", 30) + "01" + "020102"},
		{"small", "0102", "3006020101020102"},
	}
	for _, tt := range tests {
		raw, _ := hex.DecodeString(tt.raw)
		got, err := keystore.ECDSARawToDER(raw)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if hex.EncodeToString(got) != tt.der {
			t.Errorf("%s: ECDSARawToDER = %x, want %s", tt.name, got, tt.der)
		}
	}
	for _, bad := range []string{"", "01", "000102", "00000102", "01020000"} {
		b, _ := hex.DecodeString(bad)
		if _, err := keystore.ECDSARawToDER(b); err == nil {
			t.Errorf("ECDSARawToDER(%s) succeeded, want an error", bad)
		}
	}
}

// TestECDSARoundTrip converts real signatures both ways and verifies them.
func TestECDSARoundTrip(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		key, _ := ecdsa.GenerateKey(curve, rand.Reader)
		size := (curve.Params().BitSize + 7) / 8
		for i := range 50 {
			d := sha256.Sum256([]byte{byte(i)})
			der, err := ecdsa.SignASN1(rand.Reader, key, d[:])
			if err != nil {
				t.Fatal(err)
			}
			raw, err := keystore.ECDSADERToRaw(der, size)
			if err != nil || len(raw) != 2*size {
				t.Fatalf("ECDSADERToRaw: %d bytes, %v", len(raw), err)
			}
			back, err := keystore.ECDSARawToDER(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, der) {
				t.Fatalf("round trip changed the signature: %x -> %x", der, back)
			}
			if !ecdsa.VerifyASN1(&key.PublicKey, d[:], back) {
				t.Fatalf("converted signature does not verify")
			}
		}
	}
}

// TestRSADigestInfo recovers the encoded message from real PKCS#1 v1.5
// signatures made by crypto/rsa and checks it ends with RSADigestInfo.
func TestRSADigestInfo(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("合同")
	s256, s384, s512 := sha256.Sum256(msg), sha512.Sum384(msg), sha512.Sum512(msg)
	for _, tt := range []struct {
		h crypto.Hash
		d []byte
	}{{crypto.SHA256, s256[:]}, {crypto.SHA384, s384[:]}, {crypto.SHA512, s512[:]}} {
		sig, err := rsa.SignPKCS1v15(rand.Reader, key, tt.h, tt.d)
		if err != nil {
			t.Fatal(err)
		}
		em := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(key.E)), key.N).Bytes()
		di, err := keystore.RSADigestInfo(tt.h, tt.d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(em, append([]byte{0}, di...)) {
			t.Errorf("%v: DigestInfo %x is not the tail of the encoded message %x", tt.h, di, em)
		}
	}
	if _, err := keystore.RSADigestInfo(crypto.SHA1, make([]byte, 20)); err == nil {
		t.Errorf("RSADigestInfo accepted SHA-1")
	}
	if _, err := keystore.RSADigestInfo(crypto.SHA256, make([]byte, 20)); err == nil {
		t.Errorf("RSADigestInfo accepted a 20-byte SHA-256 digest")
	}
}
