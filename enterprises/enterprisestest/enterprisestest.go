// Package enterprisestest helps tests that need verified people and
// certified enterprises: valid test identity numbers and credit codes,
// users acting through the domain services of a whole apitest instance, and
// a certification driven end to end through the sandboxes.
package enterprisestest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"signet/ent"
	"signet/ent/certdocument"
	"signet/ent/certorder"
	"signet/enterprises"
	"signet/internal/apitest"
	"signet/sms"
	"signet/viewer"
)

// IDNumber returns a valid 18-digit resident ID number: region 110101, the
// birth date and a 3-digit sequence, with its GB 11643 check character.
func IDNumber(birth string, seq int) string {
	s := fmt.Sprintf("110101%s%03d", birth, seq%1000)
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(s[i]-'0') * w[i]
	}
	return s + string("10X98765432"[sum%11])
}

const creditChars = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// CreditCode returns a valid unified social credit code (GB 32100) whose
// serial part is n: registration authority 9, type 1, region 330100.
func CreditCode(n int) string {
	s := fmt.Sprintf("91330100%09d", n%1000000000)
	w := []int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += bytes.IndexByte([]byte(creditChars), s[i]) * w[i]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return s + string(creditChars[c])
}

// BankCard returns a Luhn-valid 19-digit card number starting with prefix.
func BankCard(prefix string) string {
	s := prefix
	for len(s) < 18 {
		s += "1"
	}
	for d := 0; d < 10; d++ {
		c := s + string(rune('0'+d))
		sum := 0
		for i := 0; i < len(c); i++ {
			x := int(c[len(c)-1-i] - '0')
			if i%2 == 1 {
				x *= 2
				if x > 9 {
					x -= 9
				}
			}
			sum += x
		}
		if sum%10 == 0 {
			return c
		}
	}
	panic("unreachable")
}

// PNG returns a w×h PNG photo.
func PNG(w, h int) []byte {
	im := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			im.Set(x, y, color.RGBA{uint8(x), uint8(y), 200, 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, im)
	return b.Bytes()
}

// User registers phone on the instance and returns a context acting as the
// new user (with their session), and the token.
func User(t testing.TB, s *apitest.Server, phone string) (context.Context, string) {
	t.Helper()
	token := s.Register(phone, "Passw0rd!x")
	v, err := s.App.Accounts.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatalf("authenticate %s: %v", phone, err)
	}
	return viewer.NewContext(context.Background(), v), token
}

// Outbox returns the messages sent to phone, newest first.
func Outbox(t testing.TB, s *apitest.Server, phone string) []sms.OutboxMessage {
	t.Helper()
	ms, err := s.App.Outbox.List(context.Background(), phone, 50)
	if err != nil {
		t.Fatalf("outbox: %v", err)
	}
	return ms
}

// LastCode returns the newest code sent to phone.
func LastCode(t testing.TB, s *apitest.Server, phone string) string {
	t.Helper()
	for _, m := range Outbox(t, s, phone) {
		if c := m.Params["code"]; c != "" {
			return c
		}
	}
	t.Fatalf("no code sent to %s", phone)
	return ""
}

// Must returns a function that fails the test on err and returns v:
// Must(f())(t).
func Must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// Company describes an enterprise to certify.
type Company struct {
	Name          string
	Code          string
	LegalRep      string
	LegalRepPhone string
	Applicant     string
	ApplicantID   string
	// ApplicantPhone defaults to a number derived from the legal rep phone.
	ApplicantPhone string
	Method         enterprises.Method
	Custody        enterprises.Custody
	// UKeyType defaults to one_key_many_seals for UKey custody.
	UKeyType string
}

// BankAccount is the corporate account the helpers use.
const BankAccount = "6228480402564890018"

// Certify drives a certification through every step as ctx's user, pays
// when a fee applies, advances the clock past the sandbox CA's delay and
// polls the review. It returns the final order.
func Certify(t testing.TB, s *apitest.Server, ctx context.Context, c Company) *ent.CertOrder {
	t.Helper()
	e := s.App.Enterprises
	if c.Method == "" {
		c.Method = enterprises.MethodLegalRepPhone
	}
	if c.Applicant == "" {
		c.Applicant = "王经办"
	}
	if c.ApplicantID == "" {
		c.ApplicantID = IDNumber("19900101", 11)
	}
	if c.ApplicantPhone == "" {
		c.ApplicantPhone = "137" + c.LegalRepPhone[3:]
	}
	if c.Custody == enterprises.CustodyUKey && c.UKeyType == "" {
		c.UKeyType = "one_key_many_seals"
	}
	o := Must(e.StartCertification(ctx, enterprises.CertifyInput{
		Name: c.Name, CreditCode: c.Code, Address: "浙江省杭州市西湖区文三路100号",
		LegalRepName: c.LegalRep, LegalRepIDNumber: IDNumber("19800202", 22), Custody: c.Custody,
		UKeyType: c.UKeyType,
	}))(t)
	return Complete(t, s, ctx, o, c)
}

// ToReview drives an order from the application form through payment to
// the CA review.
func ToReview(t testing.TB, s *apitest.Server, ctx context.Context, o *ent.CertOrder, c Company) *ent.CertOrder {
	t.Helper()
	e := s.App.Enterprises
	if c.Method == "" {
		c.Method = enterprises.MethodLegalRepPhone
	}
	if c.Applicant == "" {
		c.Applicant = "王经办"
	}
	if c.ApplicantID == "" {
		c.ApplicantID = IDNumber("19900101", 11)
	}
	if c.ApplicantPhone == "" {
		c.ApplicantPhone = "137" + c.LegalRepPhone[3:]
	}
	card := BankCard("622202")
	o = Must(e.SaveApplication(ctx, o.ID, enterprises.ApplicationInput{
		Method: c.Method, ApplicantName: c.Applicant, ApplicantIDNumber: c.ApplicantID, ApplicantPhone: c.ApplicantPhone,
		LegalRepPhone: c.LegalRepPhone, LegalRepBankCard: card, BankName: "中国农业银行杭州分行", BankAccount: BankAccount,
		AgreementAccepted: true,
	}))(t)
	o = Must(e.ConfirmOrder(ctx, o.ID, enterprises.ConfirmSecrets{LegalRepBankCard: card, BankAccount: BankAccount}))(t)
	amount := ""
	if c.Method == enterprises.MethodBankTransfer {
		tr := s.App.Sandboxes.Bank.Transfers(BankAccount)
		cents := tr[len(tr)-1]
		amount = fmt.Sprintf("%d.%02d", cents/100, cents%100)
	}
	o = Must(e.VerifyAuthorization(ctx, o.ID, LastCode(t, s, c.LegalRepPhone), amount))(t)
	for _, k := range enterprises.DocumentKinds {
		Must(e.UploadDocument(ctx, o.ID, enterprises.Upload{Kind: k.Kind, FileName: string(k.Kind) + ".png", Data: PNG(400, 320)}))(t)
	}
	o = Must(e.SubmitDocuments(ctx, o.ID))(t)
	Must(e.SendConfirmationCode(ctx, o.ID))(t)
	o = Must(e.ConfirmApplication(ctx, o.ID, LastCode(t, s, c.ApplicantPhone), true))(t)
	if o.Step == certorder.StepPayment {
		o = Must(e.Pay(ctx, o.ID, enterprises.ChannelAlipay))(t)
		if err := s.App.Sandboxes.Pay.Settle(ctx, o.PaymentTxnID, true); err != nil {
			t.Fatalf("pay: %v", err)
		}
		o = Must(e.Order(ctx, o.ID))(t)
	}
	if o.Step != certorder.StepReview {
		t.Fatalf("after payment the order is at %s, want review", o.Step)
	}
	return o
}

// Complete drives an order from the application form to the CA's decision
// as Certify does: a first certification or a re-certification
// (enterprises.Service.StartRecertification).
func Complete(t testing.TB, s *apitest.Server, ctx context.Context, o *ent.CertOrder, c Company) *ent.CertOrder {
	t.Helper()
	e := s.App.Enterprises
	o = ToReview(t, s, ctx, o, c)
	s.Clock.Advance(s.App.Config.SandboxCAReviewDelay + time.Second)
	if _, err := e.PollReviews(viewer.System(context.Background())); err != nil {
		t.Fatalf("poll reviews: %v", err)
	}
	return Must(e.Order(ctx, o.ID))(t)
}

var _ = certdocument.KindBusinessLicense
