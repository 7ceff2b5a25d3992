package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/errs"
	"signet/signingcore/keystore"
)

// A published sample resident ID number (GB 11643 example) with a valid
// check character.
const sampleIDNumber = "11010519491231002X"

func verifyLeaf(t *testing.T, ca *CA, cert *x509.Certificate) {
	t.Helper()
	chain, err := ca.Chain()
	if err != nil {
		t.Fatalf("Chain: %v", err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	inter.AddCert(chain[0])
	roots.AddCert(chain[1])
	chains, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}})
	if err != nil {
		t.Fatalf("leaf does not verify: %v", err)
	}
	if got := len(chains[0]); got != 3 {
		t.Errorf("chain length = %d, want 3", got)
	}
}

func TestIssuePerson(t *testing.T) {
	e := newTestEnv(t)
	key := mustECKey(t)
	iss, err := e.ca.IssuePerson(context.Background(), PersonRequest{
		Name: " 王小明 ", SubjectID: "user-8f3a2c", Key: SubjectKey{PublicKey: key.Public()},
	})
	if err != nil {
		t.Fatalf("IssuePerson: %v", err)
	}
	c := iss.Certificate
	verifyLeaf(t, e.ca, c)

	if got, want := c.Subject.CommonName, "王小明"; got != want {
		t.Errorf("CN = %q, want %q", got, want)
	}
	if got, want := c.Subject.SerialNumber, "user-8f3a2c"; got != want {
		t.Errorf("serialNumber = %q, want %q", got, want)
	}
	if got := c.Subject.Country; !equalStrings(got, []string{"CN"}) {
		t.Errorf("C = %v, want [CN]", got)
	}
	if len(c.Subject.Organization) != 0 || len(c.EmailAddresses) != 0 {
		t.Errorf("unexpected personal data: O=%v email=%v", c.Subject.Organization, c.EmailAddresses)
	}
	if got, want := c.KeyUsage, x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment; got != want {
		t.Errorf("KeyUsage = %b, want %b", got, want)
	}
	if got := c.ExtKeyUsage; len(got) != 1 || got[0] != x509.ExtKeyUsageEmailProtection {
		t.Errorf("ExtKeyUsage = %v, want [EmailProtection]", got)
	}
	if got := c.UnknownExtKeyUsage; len(got) != 2 || !got[0].Equal(oidDocumentSigning) || !got[1].Equal(oidAdobeDocumentSigning) {
		t.Errorf("other EKUs = %v, want [%v %v]", got, oidDocumentSigning, oidAdobeDocumentSigning)
	}
	if c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v; want false, true", c.IsCA, c.BasicConstraintsValid)
	}
	for _, tc := range []struct {
		name      string
		got, want []string
	}{
		{"CRL DP", c.CRLDistributionPoints, []string{"https://sign.example.cn/pki/crl"}},
		{"OCSP", c.OCSPServer, []string{"https://sign.example.cn/pki/ocsp"}},
		{"caIssuers", c.IssuingCertificateURL, []string{"https://sign.example.cn/pki/issuing-ca.crt"}},
	} {
		if !equalStrings(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	wantSKI, _ := subjectKeyID(key.Public())
	if !bytes.Equal(c.SubjectKeyId, wantSKI) {
		t.Errorf("SubjectKeyId = %x, want %x", c.SubjectKeyId, wantSKI)
	}
	issuing, _ := e.ca.IssuingCertificate()
	if !bytes.Equal(c.AuthorityKeyId, issuing.SubjectKeyId) {
		t.Errorf("AuthorityKeyId = %x, want %x", c.AuthorityKeyId, issuing.SubjectKeyId)
	}
	if got := len(c.SerialNumber.Bytes()); got != 16 {
		t.Errorf("serial length = %d bytes, want 16", got)
	}
	if got, want := c.NotAfter.Sub(c.NotBefore), DefaultLeafValidity+time.Minute; got != want {
		t.Errorf("validity = %v, want %v", got, want)
	}
	if got, want := iss.Serial, SerialHex(c.SerialNumber); got != want {
		t.Errorf("Serial = %q, want %q", got, want)
	}
	rec, err := e.repo.Issued(context.Background(), iss.Serial)
	if err != nil {
		t.Fatalf("repository lookup: %v", err)
	}
	if rec.Kind != KindPerson || rec.SubjectID != "user-8f3a2c" || !bytes.Equal(rec.DER, c.Raw) {
		t.Errorf("record = %+v, want person user-8f3a2c with the certificate", rec)
	}
}

// The raw ID number must never reach a certificate; a keyed hash of it may.
func TestPersonCertificateHasNoIDNumber(t *testing.T) {
	e := newTestEnv(t)
	secret := []byte("0123456789abcdef-platform-secret")
	pid, err := PseudonymousID(secret, strings.ToLower(sampleIDNumber))
	if err != nil {
		t.Fatalf("PseudonymousID: %v", err)
	}
	again, _ := PseudonymousID(secret, " "+sampleIDNumber)
	if pid != again {
		t.Errorf("PseudonymousID not stable: %q vs %q", pid, again)
	}
	other, _ := PseudonymousID([]byte("another-secret-of-16+bytes"), sampleIDNumber)
	if pid == other {
		t.Errorf("PseudonymousID does not depend on the key")
	}
	if _, err := PseudonymousID([]byte("short"), sampleIDNumber); err == nil {
		t.Errorf("PseudonymousID with a short key: got nil error")
	}
	iss := mustIssuePerson(t, e.ca, pid)
	for _, needle := range []string{sampleIDNumber, sampleIDNumber[:17], "19491231"} {
		if bytes.Contains(iss.Certificate.Raw, []byte(needle)) {
			t.Errorf("certificate DER contains %q", needle)
		}
	}
	if got := iss.Certificate.Subject.SerialNumber; got != pid {
		t.Errorf("serialNumber = %q, want %q", got, pid)
	}
}

func TestIssuePersonRejects(t *testing.T) {
	e := newTestEnv(t)
	pub := mustECKey(t).Public()
	tests := []struct {
		name  string
		req   PersonRequest
		field string
	}{
		{"raw ID number as subject ID", PersonRequest{Name: "王小明", SubjectID: sampleIDNumber, Key: SubjectKey{PublicKey: pub}}, "subjectID"},
		{"lower-case x ID number", PersonRequest{Name: "王小明", SubjectID: strings.ToLower(sampleIDNumber), Key: SubjectKey{PublicKey: pub}}, "subjectID"},
		{"ID number inside subject ID", PersonRequest{Name: "王小明", SubjectID: "u-" + sampleIDNumber, Key: SubjectKey{PublicKey: pub}}, "subjectID"},
		{"15-digit ID number", PersonRequest{Name: "王小明", SubjectID: "110105491231002", Key: SubjectKey{PublicKey: pub}}, "subjectID"},
		{"ID number in name", PersonRequest{Name: "王小明" + sampleIDNumber, SubjectID: "u1", Key: SubjectKey{PublicKey: pub}}, "name"},
		{"empty name", PersonRequest{Name: "  ", SubjectID: "u1", Key: SubjectKey{PublicKey: pub}}, "name"},
		{"long name", PersonRequest{Name: strings.Repeat("王", 65), SubjectID: "u1", Key: SubjectKey{PublicKey: pub}}, "name"},
		{"control character", PersonRequest{Name: "王\n小明", SubjectID: "u1", Key: SubjectKey{PublicKey: pub}}, "name"},
		{"empty subject ID", PersonRequest{Name: "王小明", Key: SubjectKey{PublicKey: pub}}, "subjectID"},
		{"subject ID with spaces", PersonRequest{Name: "王小明", SubjectID: "u 1", Key: SubjectKey{PublicKey: pub}}, "subjectID"},
		{"no key", PersonRequest{Name: "王小明", SubjectID: "u1"}, "key"},
		{"two keys", PersonRequest{Name: "王小明", SubjectID: "u1", Key: SubjectKey{PublicKey: pub, KeyURI: "soft:object=x"}}, "key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.ca.IssuePerson(context.Background(), tc.req)
			ee := errs.As(err)
			if ee == nil || ee.Code != errs.Invalid || ee.Field != tc.field {
				t.Fatalf("err = %v, want Invalid on field %q", err, tc.field)
			}
			if ee.Message == "" || !strings.ContainsFunc(ee.Message, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
				t.Errorf("message %q is not a Chinese explanation", ee.Message)
			}
		})
	}
	// Long numeric platform IDs (snowflake) are not ID numbers.
	if _, err := e.ca.IssuePerson(context.Background(), PersonRequest{Name: "王小明", SubjectID: "1789012345678901234", Key: SubjectKey{PublicKey: pub}}); err != nil {
		t.Errorf("19-digit platform ID refused: %v", err)
	}
}

func TestIssueEnterprise(t *testing.T) {
	e := newTestEnv(t)
	iss, err := e.ca.IssueEnterprise(context.Background(), EnterpriseRequest{
		Name: "深圳市腾讯计算机系统有限公司", CreditCode: "91440300708461136t",
		Key: SubjectKey{PublicKey: mustECKey(t).Public()},
	})
	if err != nil {
		t.Fatalf("IssueEnterprise: %v", err)
	}
	c := iss.Certificate
	verifyLeaf(t, e.ca, c)
	if got, want := c.Subject.CommonName, "深圳市腾讯计算机系统有限公司"; got != want {
		t.Errorf("CN = %q, want %q", got, want)
	}
	if got := c.Subject.Organization; !equalStrings(got, []string{"深圳市腾讯计算机系统有限公司"}) {
		t.Errorf("O = %v", got)
	}
	var orgID string
	for _, atv := range c.Subject.Names {
		if atv.Type.Equal(oidOrganizationIdentifier) {
			orgID, _ = atv.Value.(string)
		}
	}
	if got, want := orgID, "NTRCN-91440300708461136T"; got != want {
		t.Errorf("organizationIdentifier = %q, want %q", got, want)
	}
	rec, err := e.repo.Issued(context.Background(), iss.Serial)
	if err != nil || rec.Kind != KindEnterprise || rec.SubjectID != "91440300708461136T" {
		t.Errorf("record = %+v, %v; want enterprise 91440300708461136T", rec, err)
	}
	_, err = e.ca.IssueEnterprise(context.Background(), EnterpriseRequest{
		Name: "某公司", CreditCode: "91440300708461136A", Key: SubjectKey{PublicKey: mustECKey(t).Public()},
	})
	if ee := errs.As(err); ee == nil || ee.Code != errs.Invalid || ee.Field != "creditCode" {
		t.Errorf("bad check character: err = %v, want Invalid creditCode", err)
	}
}

func TestCheckCreditCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"91440300708461136T", "91440300708461136T", true}, // Tencent (Shenzhen)
		{"91330100799655058B", "91330100799655058B", true}, // Alibaba (China)
		{"914403001922038216", "914403001922038216", true}, // Huawei Technologies
		{" 91110000802100433b ", "91110000802100433B", true},
		{"91440300708461136A", "", false}, // wrong check character
		{"9144030070846113", "", false},   // too short
		{"91440300708461136I", "", false}, // I is not in the alphabet
		{"", "", false},
	}
	for _, tc := range tests {
		got, err := CheckCreditCode(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CheckCreditCode(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestContainsResidentID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{sampleIDNumber, true},
		{"440524188001010014", true},
		{"id:110105194912310021", false}, // wrong check digit
		{"110105194913310029", false},    // month 13
		{"110105491231002", true},        // 15-digit, born 1949-12-31
		{"110105491331002", false},       // 15-digit, month 13
		{"1789012345678901234", false},   // 19 digits: not an ID number
		{"user-42", false},
		{"ID-3f2a9c", false},
	}
	for _, tc := range tests {
		if got := containsResidentID(tc.in); got != tc.want {
			t.Errorf("containsResidentID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func mustCSR(t *testing.T, key any, subject string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: subject},
	}, key)
	if err != nil {
		t.Fatalf("CreateCertificateRequest: %v", err)
	}
	return der
}

func TestIssueKeySources(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	hosted, err := e.keys.Generate(ctx, "user-1-signing", keystore.ECP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	ukey := mustECKey(t)
	csrDER := mustCSR(t, ukey, "a CSR subject that must be ignored")
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     SubjectKey
		wantPub any
		wantURI string
	}{
		{"hosted key", SubjectKey{KeyURI: hosted.Info().URI}, hosted.Public(), hosted.Info().URI},
		{"CSR DER", SubjectKey{CSR: csrDER}, ukey.Public(), ""},
		{"CSR PEM", SubjectKey{CSR: csrPEM}, ukey.Public(), ""},
		{"RSA public key", SubjectKey{PublicKey: rsaKey.Public()}, rsaKey.Public(), ""},
		{"P-384 public key", SubjectKey{PublicKey: p384.Public()}, p384.Public(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := e.ca.IssuePerson(ctx, PersonRequest{Name: "李四", SubjectID: "u-2", Key: tc.key})
			if err != nil {
				t.Fatalf("IssuePerson: %v", err)
			}
			if !iss.Certificate.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(tc.wantPub) {
				t.Errorf("certificate has the wrong public key")
			}
			if iss.KeyURI != tc.wantURI {
				t.Errorf("KeyURI = %q, want %q", iss.KeyURI, tc.wantURI)
			}
			if got := iss.Certificate.Subject.CommonName; got != "李四" {
				t.Errorf("CN = %q, want 李四", got)
			}
			verifyLeaf(t, e.ca, iss.Certificate)
		})
	}

	// The hosted key signs, and the certificate verifies what it signed.
	digest := sha256.Sum256([]byte("合同内容"))
	sig, err := hosted.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatalf("hosted key Sign: %v", err)
	}
	iss, err := e.ca.IssuePerson(ctx, PersonRequest{Name: "李四", SubjectID: "u-2", Key: SubjectKey{KeyURI: hosted.Info().URI}})
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(iss.Certificate.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		t.Errorf("signature of the hosted key does not verify with its certificate")
	}

	// Subscriber keys may live in a store of their own.
	cfg := e.config()
	cfg.SubscriberKeys = mustSoftStore(t, t.TempDir())
	separate := mustNew(t, cfg)
	if err := separate.Load(ctx); err != nil {
		t.Fatal(err)
	}
	userKey, err := cfg.SubscriberKeys.Generate(ctx, "user-7", keystore.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := separate.IssuePerson(ctx, PersonRequest{Name: "赵六", SubjectID: "u-7", Key: SubjectKey{KeyURI: userKey.Info().URI}}); err != nil {
		t.Errorf("hosted key in SubscriberKeys: %v", err)
	}
	if _, err := separate.IssuePerson(ctx, PersonRequest{Name: "赵六", SubjectID: "u-7", Key: SubjectKey{KeyURI: hosted.Info().URI}}); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("key outside SubscriberKeys: %v, want NotFound", err)
	}

	// A CSR whose signature does not match its key.
	tampered := bytes.Clone(csrDER)
	tampered[len(tampered)-5] ^= 0xff
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		key  SubjectKey
		code errs.Code
	}{
		{"tampered CSR", SubjectKey{CSR: tampered}, errs.Invalid},
		{"garbage CSR", SubjectKey{CSR: []byte("not a csr")}, errs.Invalid},
		{"PEM of another type", SubjectKey{CSR: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: csrDER})}, errs.Invalid},
		{"RSA-1024", SubjectKey{PublicKey: small.Public()}, errs.Invalid},
		{"P-224", SubjectKey{PublicKey: mustP224(t)}, errs.Invalid},
		{"unknown key URI", SubjectKey{KeyURI: "soft:object=nobody"}, errs.NotFound},
	}
	for _, tc := range bad {
		_, err := e.ca.IssuePerson(ctx, PersonRequest{Name: "李四", SubjectID: "u-2", Key: tc.key})
		if got := errs.CodeOf(err); got != tc.code {
			t.Errorf("%s: code %q (%v), want %q", tc.name, got, err, tc.code)
		}
	}
}

func mustP224(t *testing.T) any {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

func TestValidity(t *testing.T) {
	e := newTestEnv(t)
	issuing, _ := e.ca.IssuingCertificate()
	tests := []struct {
		name         string
		validity     time.Duration
		wantNotAfter time.Time
	}{
		{"default", 0, e.clock.Now().Add(DefaultLeafValidity)},
		{"two years", 2 * 365 * 24 * time.Hour, e.clock.Now().Add(2 * 365 * 24 * time.Hour)},
		{"beyond the issuing CA", 30 * 365 * 24 * time.Hour, issuing.NotAfter},
	}
	for _, tc := range tests {
		iss, err := e.ca.IssuePerson(context.Background(), PersonRequest{Name: "王小明", SubjectID: "u-3",
			Key: SubjectKey{PublicKey: mustECKey(t).Public()}, Validity: tc.validity})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := iss.Certificate.NotAfter; !got.Equal(tc.wantNotAfter) {
			t.Errorf("%s: NotAfter = %v, want %v", tc.name, got, tc.wantNotAfter)
		}
	}
}

func TestConcurrentIssuanceUniqueSerials(t *testing.T) {
	e := newTestEnv(t)
	const workers, each = 8, 25
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	pub := mustECKey(t).Public()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				iss, err := e.ca.IssuePerson(context.Background(), PersonRequest{Name: "王小明", SubjectID: "u-c", Key: SubjectKey{PublicKey: pub}})
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				if seen[iss.Serial] {
					errc <- errs.Newf(errs.Internal, "duplicate serial %s", iss.Serial)
				}
				seen[iss.Serial] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if got := len(seen); got != workers*each {
		t.Errorf("unique serials = %d, want %d", got, workers*each)
	}
	for s := range seen {
		if _, err := e.repo.Issued(context.Background(), s); err != nil {
			t.Errorf("serial %s not recorded: %v", s, err)
		}
	}
}

// A serial collision is retried with a fresh serial.
func TestSerialCollisionRetried(t *testing.T) {
	e := newTestEnv(t)
	first := mustIssuePerson(t, e.ca, "u-1")
	// Replay the same random bytes for the next serial, then fresh ones.
	b := first.Certificate.SerialNumber.Bytes()
	e.ca.cfg.Rand = &replayReader{first: b}
	second := mustIssuePerson(t, e.ca, "u-2")
	if second.Serial == first.Serial {
		t.Fatalf("collision not retried: both serials %s", first.Serial)
	}
}

// replayReader returns first once, then crypto/rand bytes.
type replayReader struct {
	first []byte
	used  bool
}

func (r *replayReader) Read(p []byte) (int, error) {
	if !r.used && len(p) == len(r.first) {
		r.used = true
		return copy(p, r.first), nil
	}
	return rand.Read(p)
}

func TestSerialHex(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"4a3b", true}, {"4A3B", false}, {"04a3b", false}, {"", false}, {"xyz", false}, {"0", false},
	} {
		n, err := ParseSerialHex(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseSerialHex(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && SerialHex(n) != tc.in {
			t.Errorf("SerialHex(ParseSerialHex(%q)) = %q", tc.in, SerialHex(n))
		}
	}
	if got := SerialHex(big.NewInt(255)); got != "ff" {
		t.Errorf("SerialHex(255) = %q, want ff", got)
	}
}

// TestPseudonymousIDNeverLooksLikeIDNumber: among many ID numbers, some
// HMACs' hex holds a run of digits that looks like an ID number; those
// identifiers are grouped so that a certificate accepts them, and the others
// keep the plain hex.
func TestPseudonymousIDNeverLooksLikeIDNumber(t *testing.T) {
	secret := []byte("0123456789abcdef-platform-secret")
	grouped := 0
	for i := range 200000 {
		pid, err := PseudonymousID(secret, fmt.Sprintf("11010119900101%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		if containsResidentID(pid) {
			t.Fatalf("%q looks like an ID number", pid)
		}
		if strings.Count(pid, "-") > 1 {
			grouped++
		} else if len(pid) != len("ID-")+32 {
			t.Fatalf("%q: want ID- and 32 hex digits", pid)
		}
	}
	if grouped == 0 {
		t.Fatal("no identifier needed grouping: the test no longer covers the case")
	}
	t.Logf("%d of 200000 identifiers grouped", grouped)
}
