package enterprises

import (
	"context"
	"time"
)

// BankAccount is an enterprise's corporate bank account (对公账户).
type BankAccount struct {
	// Name is the account holder, the enterprise's registered name.
	Name   string
	Number string
	Bank   string
}

// BankTransfer pays a small random amount into a corporate account so the
// enterprise can prove it controls the account (对公打款认证): the applicant
// reads the amount from the bank statement and enters it.
//
// SendVerification returns the bank's transaction id once the transfer is
// accepted; an errs.Invalid error when the bank refuses the account (it
// does not exist, or its holder is not the enterprise); any other error when
// the bank cannot be reached (retry later).
type BankTransfer interface {
	SendVerification(ctx context.Context, to BankAccount, amountCents int) (txnID string, err error)
}

// PaymentChannel is a payment method shown as a QR code.
type PaymentChannel string

// Payment channels.
const (
	ChannelAlipay PaymentChannel = "alipay"
	ChannelWeChat PaymentChannel = "wechat"
)

// PaymentRequest asks for a QR-code payment.
type PaymentRequest struct {
	// OrderRef is the platform's reference, unique per payment.
	OrderRef    string
	Channel     PaymentChannel
	AmountCents int
	Subject     string
	// NotifyURL receives the provider's payment notification.
	NotifyURL string
}

// Payment is a created payment: the content of the QR code to show.
type Payment struct {
	TxnID  string
	QRCode string
}

// PaymentState is the state of a payment at the provider.
type PaymentState string

// Payment states.
const (
	PaymentPending PaymentState = "pending"
	PaymentPaid    PaymentState = "paid"
	PaymentClosed  PaymentState = "closed"
)

// PaymentStatus is the authoritative state of a payment.
type PaymentStatus struct {
	State  PaymentState
	PaidAt time.Time
}

// Payments creates QR-code payments (Alipay 当面付 / WeChat Pay Native) and
// reports their state. A notification only says "look again": the platform
// always asks Query, so a forged notification pays nothing.
type Payments interface {
	Create(ctx context.Context, req PaymentRequest) (Payment, error)
	Query(ctx context.Context, txnID string) (PaymentStatus, error)
}

// Application is what the CA reviews.
type Application struct {
	// Reference is the platform's reference of this submission: the CA
	// answers a repeated submission with the same reference with the order
	// it already made (submission is idempotent).
	Reference      string
	EnterpriseName string
	CreditCode     string
	LegalRepName   string
	ApplicantName  string
	Method         string
	Documents      int
	// Recertification: a certified enterprise applies again after its name
	// or credit code changed.
	Recertification bool
}

// ReviewState is the state of a CA review.
type ReviewState string

// Review states.
const (
	ReviewPending  ReviewState = "pending"
	ReviewApproved ReviewState = "approved"
	ReviewRejected ReviewState = "rejected"
)

// ReviewStatus is the CA's answer about an application.
type ReviewStatus struct {
	State ReviewState
	// Reason explains a rejection, in Chinese, for the applicant.
	Reason string
}

// CAReview is the external CA's application review (BJCA in the manual: up
// to 3 working days). Submit returns the CA's order id; Status reports the
// review. Both return an error when the CA cannot be reached; the platform
// retries from its review job. Submit is idempotent per
// Application.Reference.
type CAReview interface {
	Submit(ctx context.Context, app Application) (orderID string, err error)
	Status(ctx context.Context, orderID string) (ReviewStatus, error)
}
