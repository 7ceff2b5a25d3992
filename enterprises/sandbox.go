package enterprises

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"signet/errs"
)

// ErrUnavailable is returned by the sandboxes for outages.
var ErrUnavailable = errors.New("provider unavailable")

// BankSandbox stands in for the bank's transfer service. Test accounts
// (docs/sandbox.md): an account number ending in 0000 does not exist; an
// account holder containing 银行故障 finds the bank down; every other transfer
// succeeds and is listed by Transfers (GET /sandbox/bank/transfers?account=),
// as the enterprise would read it on its statement.
type BankSandbox struct {
	mu        sync.Mutex
	transfers map[string][]int
}

// SendVerification implements BankTransfer.
func (b *BankSandbox) SendVerification(ctx context.Context, to BankAccount, cents int) (string, error) {
	switch {
	case strings.Contains(to.Name, "银行故障"):
		return "", fmt.Errorf("%w: bank gateway 503", ErrUnavailable)
	case strings.HasSuffix(to.Number, "0000"):
		return "", errs.InvalidField("bankAccount", "对公账户不存在，请核对开户银行和账号")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.transfers == nil {
		b.transfers = map[string][]int{}
	}
	b.transfers[to.Number] = append(b.transfers[to.Number], cents)
	return "SBX-BANK-" + randHex(8), nil
}

// Transfers returns the amounts (in cents) paid into an account, oldest first.
func (b *BankSandbox) Transfers(account string) []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.transfers[account]...)
}

// Handler serves GET /sandbox/bank/transfers?account=…: {"amounts_cents": […]}.
func (b *BankSandbox) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"amounts_cents": b.Transfers(r.URL.Query().Get("account"))})
	})
}

// PaySandbox stands in for Alipay and WeChat Pay QR payments. Its QR code is
// a URL of the sandbox's own page (BaseURL/sandbox/pay/{txn}); opening it
// with ?outcome=pay pays, ?outcome=close closes the payment, and the
// platform is notified through Notify as the real providers POST to the
// notify URL. A subject containing 支付故障 finds the channel down.
type PaySandbox struct {
	BaseURL string
	Now     func() time.Time
	// Notify is called after a payment is paid or closed.
	Notify func(ctx context.Context, txnID string)

	mu       sync.Mutex
	payments map[string]*PaymentStatus
}

// Create implements Payments.
func (p *PaySandbox) Create(ctx context.Context, req PaymentRequest) (Payment, error) {
	if strings.Contains(req.Subject, "支付故障") {
		return Payment{}, fmt.Errorf("%w: %s gateway 503", ErrUnavailable, req.Channel)
	}
	if req.AmountCents <= 0 {
		return Payment{}, errs.InvalidField("amount", "支付金额不正确")
	}
	txn := "SBX-" + strings.ToUpper(string(req.Channel)) + "-" + randHex(8)
	p.mu.Lock()
	if p.payments == nil {
		p.payments = map[string]*PaymentStatus{}
	}
	p.payments[txn] = &PaymentStatus{State: PaymentPending}
	p.mu.Unlock()
	return Payment{TxnID: txn, QRCode: strings.TrimRight(p.BaseURL, "/") + "/sandbox/pay/" + txn}, nil
}

// Query implements Payments.
func (p *PaySandbox) Query(ctx context.Context, txn string) (PaymentStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ok := p.payments[txn]
	if !ok {
		return PaymentStatus{}, fmt.Errorf("payment %s: unknown", txn)
	}
	return *st, nil
}

// Settle pays (or closes) a pending payment as a user scanning the QR code
// would, and notifies the platform.
func (p *PaySandbox) Settle(ctx context.Context, txn string, pay bool) error {
	p.mu.Lock()
	st, ok := p.payments[txn]
	if !ok {
		p.mu.Unlock()
		return fmt.Errorf("payment %s: unknown", txn)
	}
	if st.State == PaymentPending {
		if pay {
			now := time.Now()
			if p.Now != nil {
				now = p.Now()
			}
			st.State, st.PaidAt = PaymentPaid, now
		} else {
			st.State = PaymentClosed
		}
	}
	p.mu.Unlock()
	if p.Notify != nil {
		p.Notify(context.WithoutCancel(ctx), txn)
	}
	return nil
}

// Handler serves /sandbox/pay/{txn}?outcome=pay|close.
func (p *PaySandbox) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		txn := strings.TrimPrefix(r.URL.Path, "/sandbox/pay/")
		outcome := r.FormValue("outcome")
		if outcome == "" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><meta charset="utf-8"><title>扫码支付（沙箱）</title><p>订单 %s</p><p><a href="?outcome=pay">确认支付</a> · <a href="?outcome=close">取消支付</a></p>`, txn)
			return
		}
		if err := p.Settle(r.Context(), txn, outcome == "pay"); err != nil {
			http.Error(w, "未找到支付订单", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("支付结果已通知签网"))
	})
}

// CASandbox stands in for the external CA's application review. The order
// id carries the submission time and the verdict; the sandbox remembers
// only which reference made which order (a repeated submission gets the
// same order, as from the real CA). An
// application is approved Delay after submission, unless the enterprise
// name contains 驳回 (rejected: the licence does not match) or 审核故障 (the
// CA cannot be reached at submission).
type CASandbox struct {
	Delay time.Duration
	Now   func() time.Time

	mu          sync.Mutex
	refs        map[string]string // Application.Reference → CA order id
	submissions int
}

func (c *CASandbox) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Submit implements CAReview.
func (c *CASandbox) Submit(ctx context.Context, a Application) (string, error) {
	if strings.Contains(a.EnterpriseName, "审核故障") {
		return "", fmt.Errorf("%w: CA gateway 503", ErrUnavailable)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if id, ok := c.refs[a.Reference]; ok && a.Reference != "" {
		return id, nil
	}
	verdict := "a"
	if strings.Contains(a.EnterpriseName, "驳回") {
		verdict = "r"
	}
	id := fmt.Sprintf("SBXCA-%d-%s-%s", c.now().Unix(), verdict, randHex(4))
	if c.refs == nil {
		c.refs = map[string]string{}
	}
	c.refs[a.Reference] = id
	c.submissions++
	return id, nil
}

// Submissions counts the CA orders the sandbox made.
func (c *CASandbox) Submissions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.submissions
}

// Status implements CAReview.
func (c *CASandbox) Status(ctx context.Context, id string) (ReviewStatus, error) {
	parts := strings.Split(id, "-")
	if len(parts) != 4 || parts[0] != "SBXCA" {
		return ReviewStatus{}, errs.New(errs.NotFound, "CA订单不存在")
	}
	sec, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return ReviewStatus{}, errs.New(errs.NotFound, "CA订单不存在")
	}
	if c.now().Before(time.Unix(sec, 0).Add(c.Delay)) {
		return ReviewStatus{State: ReviewPending}, nil
	}
	if parts[2] == "r" {
		return ReviewStatus{State: ReviewRejected, Reason: "营业执照信息与填报的企业名称不一致"}, nil
	}
	return ReviewStatus{State: ReviewApproved}, nil
}
