package flows

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"signet/accounts"
	"signet/certs"
	"signet/ent"
	"signet/ent/certificate"
	"signet/errs"
	"signet/sms"
	"signet/viewer"
)

// MaxBatch is the most flows one batch signature (批量签署) may hold.
const MaxBatch = 100

// BatchSignInput is one signer's batch signature (DOC-4): the same seals
// applied at the initiators' positions in every flow, confirmed by one SMS
// code. SendBatchIntentCode takes it without Code.
type BatchSignInput struct {
	FlowIDs []int
	// PersonalSealID is applied to personal-seal and handwriting fields,
	// EnterpriseSealID to enterprise-seal fields, in every flow.
	PersonalSealID   int
	EnterpriseSealID int
	// Code is the 意愿认证 code SendBatchIntentCode sent.
	Code string
	// ukey admits seals whose certificate is on a UKey (the UKey batch of
	// ukeysign.go signs them through the helper).
	ukey bool
}

// BatchItem is the outcome for one flow of a batch.
type BatchItem struct {
	FlowID int
	// Flow is the flow after a signature, nil when refused.
	Flow *ent.Flow
	// Err says why the flow was refused or failed (an *errs.Error with a
	// Chinese message); nil when Eligible (SendBatchIntentCode) or signed
	// (BatchSign).
	Err error
}

// BatchIntent is what SendBatchIntentCode did: which flows the code covers
// and why the others cannot be batch-signed. Sent is zero when no flow was
// eligible (no SMS is sent then).
type BatchIntent struct {
	Sent        accounts.SentCode
	Fingerprint string
	Items       []BatchItem
}

// Eligible returns the flows the code covers.
func (b BatchIntent) Eligible() []int {
	var ids []int
	for _, it := range b.Items {
		if it.Err == nil {
			ids = append(ids, it.FlowID)
		}
	}
	return ids
}

// batchPlan is a checked batch: one signing plan per eligible flow, the
// refusals, and the intent scope binding the code to exactly those flows,
// their documents as sent, the signer's fields and the seals.
type batchPlan struct {
	ids     []int
	plans   map[int]*signPlan
	refused map[int]error
	signers map[int]*certs.Signer // by seal ID
	ukey    bool                  // UKey certificates admitted (BatchSignInput.ukey)
	scope   string
	fingerp string
	names   []string
}

// Batch refusal reasons.
var (
	errBatchSelfPlacement = errs.New(errs.Invalid, "需要自行放置印章的合同不能批量签署")
	errBatchUKey          = errs.New(errs.Conflict, "证书为UKey证书不能批量签署")
)

// planBatch checks every flow as a single signature would (its turn, the
// passcode, the deadline, the seals and their grants) plus the rules of
// batch signing: every field of the signer positioned by the initiator and
// every seal backed by a hosted certificate.
func (s *Service) planBatch(ctx context.Context, in BatchSignInput) (*batchPlan, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if s.pades == nil || s.certs == nil || s.seals == nil {
		return nil, errs.New(errs.Internal, "签署服务未配置")
	}
	seen := map[int]bool{}
	bp := &batchPlan{plans: map[int]*signPlan{}, refused: map[int]error{}, signers: map[int]*certs.Signer{}, ukey: in.ukey}
	for _, id := range in.FlowIDs {
		if !seen[id] {
			seen[id] = true
			bp.ids = append(bp.ids, id)
		}
	}
	switch {
	case len(bp.ids) == 0:
		return nil, errs.InvalidField("flowIds", "请选择要签署的合同")
	case len(bp.ids) > MaxBatch:
		return nil, errs.InvalidField("flowIds", fmt.Sprintf("一次最多批量签署%d份合同", MaxBatch))
	}
	certOK := map[int]error{} // by seal ID
	var lines []string
	for _, id := range bp.ids {
		p, err := s.plan(ctx, SignInput{FlowID: id, PersonalSealID: in.PersonalSealID, EnterpriseSealID: in.EnterpriseSealID})
		if e := errs.As(err); e != nil && e.Field == "placements" && strings.Contains(e.Message, "放置") {
			err = errBatchSelfPlacement
		}
		if err == nil {
			for _, sl := range p.seals {
				if _, done := certOK[sl.ID]; !done {
					certOK[sl.ID] = s.batchSigner(ctx, bp, sl)
				}
				if err = certOK[sl.ID]; err != nil {
					break
				}
			}
		}
		if err != nil {
			if errs.CodeOf(err) == errs.Internal {
				return nil, err
			}
			bp.refused[id] = err
			continue
		}
		bp.plans[id] = p
		bp.names = append(bp.names, p.flow.Name)
		lines = append(lines, p.scope)
	}
	sort.Strings(lines)
	h := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	bp.fingerp = hex.EncodeToString(h[:4])
	bp.scope = fmt.Sprintf("batch:u%d:%d:%s", v.UserID, len(lines), hex.EncodeToString(h[:16]))
	return bp, nil
}

// batchSigner loads the hosted signer of a seal's certificate once per
// batch; a UKey certificate (or a dead one) refuses the flows using it.
func (s *Service) batchSigner(ctx context.Context, bp *batchPlan, sl *ent.Seal) error {
	if sl.CertificateID == nil {
		return errs.New(errs.Forbidden, "印章未绑定证书，不能使用")
	}
	c, err := s.db.Certificate.Get(viewer.System(ctx), *sl.CertificateID)
	if err != nil {
		return errs.New(errs.NotFound, "证书不存在")
	}
	if c.Custody != certificate.CustodyHosted {
		if bp.ukey {
			return nil // signed on the token: PrepareUKeyBatchSign checks it
		}
		return errBatchUKey
	}
	sg, err := s.certs.SignerOf(ctx, c)
	if err != nil {
		return err
	}
	bp.signers[sl.ID] = sg
	return nil
}

// items lists the batch's flows in the order asked, with their refusals.
func (bp *batchPlan) items() []BatchItem {
	out := make([]BatchItem, len(bp.ids))
	for i, id := range bp.ids {
		out[i] = BatchItem{FlowID: id, Err: bp.refused[id]}
	}
	return out
}

// SendBatchIntentCode sends one 意愿认证 code for every eligible flow of the
// batch, bound to that set of flows, their documents as sent, the signer's
// fields and the seals; the other flows come back with the reason
// they cannot be batch-signed. The SMS names the first contract, the number
// of contracts and a fingerprint of the whole batch. Without any eligible
// flow no code is sent.
func (s *Service) SendBatchIntentCode(ctx context.Context, in BatchSignInput) (BatchIntent, error) {
	bp, err := s.planBatch(ctx, in)
	if err != nil {
		return BatchIntent{}, err
	}
	out := BatchIntent{Fingerprint: bp.fingerp, Items: bp.items()}
	if len(bp.plans) == 0 {
		return out, nil
	}
	contract := bp.names[0]
	if len(bp.names) > 1 {
		contract = fmt.Sprintf("%s等%d份合同", bp.names[0], len(bp.names))
	}
	out.Sent, err = s.acc.IssueCode(ctx, accounts.CodeRequest{Phone: viewer.FromContext(ctx).Phone, Purpose: PurposeIntent,
		Scope: bp.scope, Template: sms.TemplateSignIntent, Params: map[string]string{"contract": contract, "fingerprint": bp.fingerp}})
	if err != nil {
		return BatchIntent{}, err
	}
	return out, nil
}

// BatchSign signs every flow of the batch with one code. The flows are
// checked again; the code only works when the eligible set, its documents,
// fields and seals are exactly those it was sent for (otherwise it is
// refused as invalid and nothing is signed). Each eligible flow is then
// signed through the single-signature pipeline, all or nothing per flow: a
// flow that fails keeps no partial revision and the others go on. The
// result has one item per flow in the order asked.
func (s *Service) BatchSign(ctx context.Context, in BatchSignInput) ([]BatchItem, error) {
	bp, err := s.planBatch(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(bp.plans) == 0 {
		return nil, errs.New(errs.Conflict, "所选合同均不能批量签署")
	}
	if err := s.acc.ConsumeCode(ctx, "code", viewer.FromContext(ctx).Phone, PurposeIntent, bp.scope, in.Code); err != nil {
		return nil, err
	}
	items := bp.items()
	// The flows are signed a few at a time, so that the cores share the
	// cryptography and their commits go in groups (commit.go) rather than
	// one transaction each.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(batchWorkers(), len(bp.plans)) {
		wg.Go(func() {
			for i := range next {
				p := bp.plans[items[i].FlowID]
				f, err := s.execute(ctx, p, bp.signers)
				if err != nil {
					if errs.As(err) == nil {
						s.log.ErrorContext(ctx, "batch sign", "flow", p.flow.ID, "err", err)
						err = errs.Wrap(err, errs.Internal, "签署失败，请稍后单独签署该合同")
					}
					items[i].Err = err
					continue
				}
				items[i].Flow = f
			}
		})
	}
	for i := range items {
		if bp.plans[items[i].FlowID] != nil {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return items, nil
}

// batchWorkers is how many flows of a batch are signed at once: two per
// core, so that one's database work overlaps another's cryptography.
func batchWorkers() int { return 2 * runtime.GOMAXPROCS(0) }
