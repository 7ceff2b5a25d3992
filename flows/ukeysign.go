package flows

// Signing with a UKey (issue 7 points 4 and 5; DOC-3, DOC-4, ENT-1 custody).
//
// A UKey's key never leaves the token, so a UKey signature has two phases
// with the user's PC between them:
//
//  1. PrepareUKeySign checks everything Sign checks (plan) and uses up the
//     intent code, then prepares on each document's current revision the
//     next signature (pades.Signer.Prepare), keeps the prepared update in the
//     blob store and the state in a PendingSignature row (no transaction, no
//     lock), and returns the digests with the contract's name and
//     fingerprint for the helper to show.
//  2. The page has the helper sign each digest (sign_digest; the PIN is typed
//     at the helper) and CompleteUKeySign embeds the signatures
//     (pades.Signer.Complete refuses one that is not by the certificate's
//     key) and commits exactly like a hosted signature: only if every
//     document is still on the revision it was prepared on.
//
// A signature covers everything before it, so a second field of the same
// signer on one document can only be prepared once the first is complete:
// a signer with several fields on a document goes through several rounds,
// each CompleteUKeySign answering with the next digests until the last one
// commits. Fields whose seal has a hosted certificate (mixed with UKey ones)
// are signed on the server within the rounds.
//
// Nothing is committed before the last round: an abandoned, expired or
// cancelled pending signature leaves the flow exactly as it was, and
// signable. When another signer's revision lands meanwhile the pending
// signature is void (its digests are over the old revision): the signer
// starts again with a new intent code.

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"signet/certs"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/ent/pendingsignature"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/ent/ukeybinding"
	"signet/errs"
	"signet/signingcore/pades"
	"signet/viewer"
)

// UKeySignTTL is how long a prepared UKey signature waits for the helper's
// signatures: time to confirm at the helper and type the PIN, per round.
const UKeySignTTL = 5 * time.Minute

// UKeySignInput is a signature on a flow with a UKey.
type UKeySignInput struct {
	SignInput
	// UKeyCertificate optionally names (SHA-256 fingerprint, hex) one of the
	// viewer's bound personal UKeys (accounts.BindUKey): personal-seal and
	// handwriting fields are then signed with it instead of the seal's
	// hosted certificate. Seals whose own certificate is on a UKey (an
	// enterprise's UKey custody, 一key一章 or 一key多章) always sign on it.
	UKeyCertificate string
	// TokenCertificates optionally lists the fingerprints of the
	// certificates on the plugged-in token, as the helper reported them: a
	// UKey certificate the signature needs that is not among them is
	// refused before the intent code is used (see checkOnToken).
	TokenCertificates []string
}

// UKeyDigest is one signature the helper must make (sign_digest).
type UKeyDigest struct {
	DocumentID   int
	DocumentName string
	// Digest is pades.Prepared.Digest: SHA-256 of the signed attributes.
	Digest []byte
	// Certificate is the fingerprint of the certificate whose key must sign,
	// as the helper's list_certificates names it.
	Certificate string
	SealName    string
}

// UKeyStep is where a UKey signature stands: digests waiting for the
// helper, or the signed flow.
type UKeyStep struct {
	// PendingID names the pending signature for CompleteUKeySign; zero once
	// done.
	PendingID int
	FlowID    int
	// ContractName and Fingerprint are what the helper shows (the
	// fingerprint is the one the intent SMS named).
	ContractName string
	Fingerprint  string
	// Round counts the rounds (one signature per document each).
	Round     int
	ExpiresAt time.Time
	// Digests are to be signed, one per document with a signature waiting.
	Digests []UKeyDigest
	// Flow is the flow after the last signature; nil while digests wait.
	Flow *ent.Flow
}

// Done reports whether the signature is committed.
func (s *UKeyStep) Done() bool { return s.Flow != nil }

// UKeySignature is the helper's signature of one document's digest: ECDSA
// (ASN.1 DER or r||s) or RSA PKCS#1 v1.5.
type UKeySignature struct {
	DocumentID int
	Signature  []byte
}

// Refusals of the UKey path.
var (
	errPendingMissing = errs.New(errs.NotFound, "签署请求不存在或已失效")
	errPendingUsed    = errs.New(errs.Conflict, "该签署请求已处理，请勿重复提交")
	errPendingExpired = errs.New(errs.Conflict, "签署请求已过期，请重新签署")
	errPendingVoid    = errs.New(errs.Conflict, "签署请求已取消或失效，请重新签署")
	errPendingMoved   = errs.New(errs.Conflict, "合同已被其他签署方更新，请重新签署")
)

// ukeyKey is how one seal signs: with a hosted key on the server, or on a
// UKey whose certificate (and chain) is known.
type ukeyKey struct {
	hosted *certs.Signer
	// certificateID is the seal's own certificate when it signs (hosted,
	// or the seal's UKey); 0 for the signer's bound UKey.
	certificateID int
	chain         []*x509.Certificate // UKey: the certificate, then its issuers
	fingerprint   string              // UKey certificate's SHA-256, hex
}

// ukeyState is the pending signature's state (PendingSignature.state).
type ukeyState struct {
	Fields []ukeyField     `json:"fields"`
	Seals  map[string]int  `json:"seals"` // field kind → seal ID
	UKey   string          `json:"ukey,omitempty"`
	Time   time.Time       `json:"time"` // signing time (/M) of every signature
	Docs   []ukeyDocState  `json:"docs"`
	Keys   map[string]bool `json:"keys,omitempty"` // UKey fingerprints used
}

type ukeyField struct {
	ID         int            `json:"id,omitempty"` // 0 for a placement
	DocumentID int            `json:"doc"`
	Kind       signfield.Kind `json:"kind"`
	Page       int            `json:"page"`
	X          float64        `json:"x"`
	Y          float64        `json:"y"`
	Width      float64        `json:"w"`
	Height     float64        `json:"h"`
}

type ukeyDocState struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Revision int    `json:"rev"`    // the revision prepared on
	Sha256   string `json:"sha256"` // its SHA-256
	BaseKey  string `json:"base"`   // its blob
	// WorkKey is the document with this signer's completed signatures so
	// far, WorkSum its SHA-256; empty before the first.
	WorkKey string `json:"work,omitempty"`
	WorkSum string `json:"workSum,omitempty"`
	// Done counts the signer's fields on it already signed.
	Done int `json:"done"`
	// Prepared is the blob of the marshalled pades.Prepared waiting for
	// Digest to be signed by Certificate's key; empty when none waits.
	Prepared    string `json:"prepared,omitempty"`
	Digest      []byte `json:"digest,omitempty"`
	Certificate string `json:"cert,omitempty"`
	SealID      int    `json:"seal,omitempty"`
}

// PrepareUKeySign checks the signature as Sign does, uses up the intent
// code and prepares the first round of signatures. A plan whose seals all
// have hosted certificates is simply signed (the step is done at once).
// An earlier pending signature of the same signer is cancelled.
func (s *Service) PrepareUKeySign(ctx context.Context, in UKeySignInput) (*UKeyStep, error) {
	if s.ca == nil {
		return nil, errs.New(errs.Internal, "签署服务未配置")
	}
	plan, err := s.planAgain(ctx, in.SignInput)
	if err != nil {
		return nil, err
	}
	// The keys are checked before the code is used up, so a wrong choice
	// of UKey does not cost the signer a new code.
	keys, err := s.ukeyKeys(ctx, plan, in.UKeyCertificate)
	if err != nil {
		return nil, err
	}
	if err := checkOnToken(keys, in.TokenCertificates); err != nil {
		return nil, err
	}
	claim, err := s.claimIntent(ctx, plan, in.Code)
	if err != nil {
		return nil, err
	}
	if err := claim.Consume(ctx, s.db); err != nil {
		return nil, err
	}
	return s.startUKey(ctx, plan, keys, in.UKeyCertificate)
}

// checkOnToken refuses a signature whose UKey certificates are not all on
// the plugged-in token, when the page listed the token's certificates
// (onToken): otherwise the helper would find out only after the intent
// code was used, and the signer would need a new one.
func checkOnToken(keys map[int]*ukeyKey, onToken []string) error {
	if len(onToken) == 0 {
		return nil
	}
	present := map[string]bool{}
	for _, fp := range onToken {
		present[normFingerprint(fp)] = true
	}
	for _, k := range keys {
		if k.hosted == nil && !present[normFingerprint(k.fingerprint)] {
			return errs.InvalidField("tokenCertificates", "插入的UKey中没有签署所需的证书，请插入该印章或本人已绑定的UKey")
		}
	}
	return nil
}

// normFingerprint writes a fingerprint as lowercase hex digits only (the
// helper may show AB:CD:…).
func normFingerprint(fp string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(fp) {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'f' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ukeyKeys resolves how each seal of the plan signs.
func (s *Service) ukeyKeys(ctx context.Context, plan *signPlan, personalUKey string) (map[int]*ukeyKey, error) {
	sys := viewer.System(ctx)
	keys := map[int]*ukeyKey{}
	var bound *ukeyKey
	for _, sl := range plan.seals {
		if _, ok := keys[sl.ID]; ok {
			continue
		}
		if sl.CertificateID == nil {
			return nil, errs.New(errs.Forbidden, "印章未绑定证书，不能使用")
		}
		c, err := s.db.Certificate.Get(sys, *sl.CertificateID)
		if err != nil {
			return nil, errs.New(errs.NotFound, "证书不存在")
		}
		switch {
		case c.Custody == certificate.CustodyUkey:
			k, err := s.ukeyCertificate(ctx, c)
			if err != nil {
				return nil, err
			}
			k.certificateID = c.ID
			keys[sl.ID] = k
		case personalUKey != "" && sl.EnterpriseID == nil:
			if bound == nil {
				if bound, err = s.boundUKey(ctx, personalUKey); err != nil {
					return nil, err
				}
			}
			keys[sl.ID] = bound
		default:
			sg, err := s.certs.SignerOf(ctx, c)
			if err != nil {
				return nil, err
			}
			keys[sl.ID] = &ukeyKey{hosted: sg, certificateID: c.ID}
		}
	}
	return keys, nil
}

// ukeyCertificate checks a seal's UKey custody certificate: bound (active),
// valid now, not revoked.
func (s *Service) ukeyCertificate(ctx context.Context, c *ent.Certificate) (*ukeyKey, error) {
	switch {
	case c.Status == certificate.StatusPending:
		return nil, errs.New(errs.Conflict, "该印章的UKey尚未绑定证书，请联系企业管理员")
	case c.Status != certificate.StatusActive:
		return nil, errs.New(errs.Conflict, "证书已失效，无法签署")
	}
	x, err := x509.ParseCertificate(c.Der)
	if err != nil {
		return nil, fmt.Errorf("ukey sign: certificate %d: %w", c.ID, err)
	}
	return s.ukeyChain(ctx, x)
}

// boundUKey finds the signer's bound personal UKey by fingerprint.
func (s *Service) boundUKey(ctx context.Context, fingerprint string) (*ukeyKey, error) {
	v := viewer.FromContext(ctx)
	b, err := s.db.UKeyBinding.Query().Where(ukeybinding.UserID(v.UserID), ukeybinding.Fingerprint(fingerprint)).Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, errs.InvalidField("ukeyCertificate", "未找到您已绑定的该UKey证书，请先在账号设置中绑定UKey")
	}
	if err != nil {
		return nil, err
	}
	// accounts.BindUKey checked that the certificate names the user's
	// verified identity, so it may sign the user's personal fields.
	x, err := x509.ParseCertificate(b.Der)
	if err != nil {
		return nil, fmt.Errorf("ukey sign: binding %d: %w", b.ID, err)
	}
	return s.ukeyChain(ctx, x)
}

// ukeyChain checks a UKey certificate's validity now and its revocation
// (the platform CA's OCSP) and returns it with its chain.
func (s *Service) ukeyChain(ctx context.Context, x *x509.Certificate) (*ukeyKey, error) {
	now := s.now()
	if now.Before(x.NotBefore) || !now.Before(x.NotAfter) {
		return nil, errs.New(errs.Conflict, "UKey证书不在有效期内，无法签署")
	}
	chain, err := s.ca.Chain()
	if err != nil {
		return nil, fmt.Errorf("ukey sign: chain: %w", err)
	}
	der, err := s.ca.OCSPForCertificate(ctx, x)
	if err != nil {
		return nil, fmt.Errorf("ukey sign: ocsp: %w", err)
	}
	resp, err := ocsp.ParseResponseForCert(der, x, chain[0])
	if err != nil {
		return nil, fmt.Errorf("ukey sign: ocsp: %w", err)
	}
	if resp.Status != ocsp.Good {
		return nil, errs.New(errs.Conflict, "UKey证书已吊销，无法签署")
	}
	sum := sha256.Sum256(x.Raw)
	return &ukeyKey{chain: append([]*x509.Certificate{x}, chain...), fingerprint: hex.EncodeToString(sum[:])}, nil
}

// startUKey prepares the first round of a checked plan whose code was used
// up and records it; a plan without any UKey seal is signed at once.
func (s *Service) startUKey(ctx context.Context, plan *signPlan, keys map[int]*ukeyKey, personalUKey string) (*UKeyStep, error) {
	hostedOnly := map[int]*certs.Signer{}
	for id, k := range keys {
		if k.hosted == nil {
			hostedOnly = nil
			break
		}
		hostedOnly[id] = k.hosted
	}
	if hostedOnly != nil {
		f, err := s.execute(ctx, plan, hostedOnly)
		if err != nil {
			return nil, err
		}
		return &UKeyStep{FlowID: f.ID, ContractName: f.Name, Fingerprint: plan.fingerp, Flow: f}, nil
	}
	sys := viewer.System(ctx)
	// One live pending signature per signer: a new one replaces the old.
	if _, err := s.db.PendingSignature.Update().Where(pendingsignature.ParticipantID(plan.part.ID),
		pendingsignature.StatusEQ(pendingsignature.StatusPending)).
		SetStatus(pendingsignature.StatusCancelled).SetFinishedAt(s.now()).Save(sys); err != nil {
		return nil, err
	}
	st := &ukeyState{Seals: map[string]int{}, UKey: personalUKey, Time: s.now()}
	for kind, sl := range plan.seals {
		st.Seals[string(kind)] = sl.ID
	}
	for _, fd := range plan.fields {
		st.Fields = append(st.Fields, ukeyField{ID: fd.ID, DocumentID: fd.DocumentID, Kind: fd.Kind, Page: fd.Page,
			X: fd.X, Y: fd.Y, Width: fd.Width, Height: fd.Height})
	}
	for _, d := range plan.docs {
		if len(st.fieldsOf(d.ID)) > 0 {
			st.Docs = append(st.Docs, ukeyDocState{ID: d.ID, Name: d.Name, Revision: d.Revision, Sha256: d.CurrentSha256, BaseKey: d.CurrentKey})
		}
	}
	if err := s.ukeyRound(ctx, plan, keys, st); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	exp := s.now().Add(UKeySignTTL)
	row, err := s.db.PendingSignature.Create().SetUserID(viewer.FromContext(ctx).UserID).SetFlowID(plan.flow.ID).
		SetParticipantID(plan.part.ID).SetScope(plan.scope).SetFingerprint(plan.fingerp).SetState(raw).
		SetExpiresAt(exp).Save(sys)
	if err != nil {
		return nil, err
	}
	return s.ukeyStep(plan, row, st), nil
}

// fieldsOf returns the fields on one document, in the order they are signed.
func (st *ukeyState) fieldsOf(docID int) []ukeyField {
	var out []ukeyField
	for _, f := range st.Fields {
		if f.DocumentID == docID {
			out = append(out, f)
		}
	}
	return out
}

// waiting reports whether any document has a prepared signature waiting.
func (st *ukeyState) waiting() bool {
	for _, d := range st.Docs {
		if d.Prepared != "" {
			return true
		}
	}
	return false
}

// ukeyRound advances every document without a waiting signature: hosted
// fields are signed on the server, and the next UKey field is prepared.
func (s *Service) ukeyRound(ctx context.Context, plan *signPlan, keys map[int]*ukeyKey, st *ukeyState) error {
	for i := range st.Docs {
		d := &st.Docs[i]
		fields := st.fieldsOf(d.ID)
		if d.Prepared != "" || d.Done >= len(fields) {
			continue
		}
		key := d.WorkKey
		if key == "" {
			key = d.BaseKey
		}
		pdf, err := s.getPDF(ctx, key)
		if err != nil {
			return fmt.Errorf("ukey sign: read document: %w", err)
		}
		changed := false
		for d.Done < len(fields) {
			fd := fields[d.Done]
			sl := plan.seals[fd.Kind]
			k := keys[sl.ID]
			req := pades.Request{
				FieldName:         fmt.Sprintf("Signet-P%d-R%d-%d", plan.part.ID, d.Revision, d.Done+1),
				Page:              fd.Page,
				Rect:              pades.Rect{fd.X, fd.Y, fd.X + fd.Width, fd.Y + fd.Height},
				Appearance:        sl.Image,
				EncodedAppearance: sl.Appearance,
				Name:              partyName(plan.part),
				Reason:            "签署《" + plan.flow.Name + "》",
				Location:          "签网",
				SigningTime:       st.Time,
			}
			if k.hosted != nil {
				req.Chain = append([]*x509.Certificate{k.hosted.Certificate}, k.hosted.Chain...)
				if pdf, err = s.pades.Sign(ctx, pdf, req, k.hosted.Key, s.tsa); err != nil {
					return fmt.Errorf("sign %s: %w", d.Name, err)
				}
				d.Done++
				changed = true
				continue
			}
			req.Chain = k.chain
			p, err := s.pades.Prepare(pdf, req)
			if err != nil {
				return fmt.Errorf("prepare %s: %w", d.Name, err)
			}
			b, err := p.MarshalBinary()
			if err != nil {
				return err
			}
			if d.Prepared, _, err = s.putPDF(ctx, b); err != nil {
				return fmt.Errorf("ukey sign: store prepared: %w", err)
			}
			d.Digest, d.Certificate, d.SealID = p.Digest, k.fingerprint, sl.ID
			if st.Keys == nil {
				st.Keys = map[string]bool{}
			}
			st.Keys[k.fingerprint] = true
			break
		}
		if changed {
			if err := s.storeWork(ctx, d, pdf); err != nil {
				return err
			}
		}
	}
	return nil
}

// storeWork keeps the document with the signatures completed so far.
func (s *Service) storeWork(ctx context.Context, d *ukeyDocState, pdf []byte) error {
	key, sum, err := s.putPDF(ctx, pdf)
	if err != nil {
		return fmt.Errorf("ukey sign: store revision: %w", err)
	}
	d.WorkKey, d.WorkSum = key, sum
	return nil
}

// ukeyStep describes a pending signature's waiting digests.
func (s *Service) ukeyStep(plan *signPlan, row *ent.PendingSignature, st *ukeyState) *UKeyStep {
	step := &UKeyStep{PendingID: row.ID, FlowID: plan.flow.ID, ContractName: plan.flow.Name, Fingerprint: row.Fingerprint,
		Round: row.Round, ExpiresAt: row.ExpiresAt}
	for _, d := range st.Docs {
		if d.Prepared == "" {
			continue
		}
		dg := UKeyDigest{DocumentID: d.ID, DocumentName: d.Name, Digest: d.Digest, Certificate: d.Certificate}
		for _, sl := range plan.seals {
			if sl.ID == d.SealID {
				dg.SealName = sl.Name
			}
		}
		step.Digests = append(step.Digests, dg)
	}
	return step
}

// CompleteUKeySign embeds the helper's signatures into a pending signature
// of the viewer's. When the signer has more fields on a document, the next
// round's digests come back with the same pending ID; after the last round
// everything is committed at once, as Sign commits: the participant is
// signed and the flow advances.
//
// It returns NotFound for a pending signature that is not the viewer's;
// Conflict when it expired, was cancelled, was already completed, or when a
// document moved to another revision meanwhile (the pending signature is
// then void); Invalid when a signature is missing or not by the
// certificate's key (the pending signature stays usable until it expires).
func (s *Service) CompleteUKeySign(ctx context.Context, pendingID int, sigs []UKeySignature) (*UKeyStep, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if s.pades == nil || s.certs == nil || s.ca == nil {
		return nil, errs.New(errs.Internal, "签署服务未配置")
	}
	sys := viewer.System(ctx)
	row, err := s.db.PendingSignature.Get(sys, pendingID)
	if ent.IsNotFound(err) || (err == nil && row.UserID != v.UserID) {
		return nil, errPendingMissing
	}
	if err != nil {
		return nil, err
	}
	switch {
	case row.Status == pendingsignature.StatusCompleted:
		return nil, errPendingUsed
	case row.Status != pendingsignature.StatusPending:
		return nil, errPendingVoid
	case !s.now().Before(row.ExpiresAt):
		return nil, errPendingExpired
	}
	var st ukeyState
	if err := json.Unmarshal(row.State, &st); err != nil {
		return nil, fmt.Errorf("ukey sign: state of %d: %w", row.ID, err)
	}
	plan, err := s.replan(ctx, row, &st)
	if err != nil {
		return nil, err
	}
	if err := s.checkUnmoved(ctx, row, &st); err != nil {
		return nil, err
	}
	keys, err := s.ukeyKeys(ctx, plan, st.UKey)
	if err != nil {
		return nil, err
	}
	for id, k := range keys {
		if k.certificateID != 0 {
			plan.signedBy(id, k.certificateID)
		}
	}
	// Every waiting digest needs its signature, and nothing else is taken.
	byDoc := map[int][]byte{}
	for i, sg := range sigs {
		if _, dup := byDoc[sg.DocumentID]; dup || len(sg.Signature) == 0 {
			return nil, errs.InvalidField(fmt.Sprintf("signatures.%d", i), "签名值缺失或重复")
		}
		byDoc[sg.DocumentID] = sg.Signature
	}
	used := 0
	for i := range st.Docs {
		d := &st.Docs[i]
		if d.Prepared == "" {
			continue
		}
		sig, ok := byDoc[d.ID]
		if !ok {
			return nil, errs.InvalidField("signatures", "缺少《"+d.Name+"》的签名")
		}
		used++
		b, err := s.getPDF(ctx, d.Prepared)
		if err != nil {
			return nil, fmt.Errorf("ukey sign: read prepared: %w", err)
		}
		var p pades.Prepared
		if err := p.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		pdf, err := s.pades.Complete(ctx, &p, sig, s.tsa)
		if err != nil {
			if e := errs.As(err); e != nil && e.Code == errs.Invalid {
				return nil, errs.Wrap(err, errs.Invalid, "《"+d.Name+"》的签名无效：请使用该印章对应的UKey证书签署")
			}
			return nil, err
		}
		if err := s.storeWork(ctx, d, pdf); err != nil {
			return nil, err
		}
		d.Done++
		d.Prepared, d.Digest, d.Certificate, d.SealID = "", nil, "", 0
	}
	if used != len(byDoc) {
		return nil, errs.InvalidField("signatures", "签名与待签文件不对应")
	}
	if err := s.ukeyRound(ctx, plan, keys, &st); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(&st)
	if err != nil {
		return nil, err
	}
	if st.waiting() {
		// The next round: this one is used up by a conditional update, so
		// of two completions of the same round one goes on.
		exp := s.now().Add(UKeySignTTL)
		n, err := s.db.PendingSignature.Update().Where(pendingsignature.ID(row.ID), pendingsignature.StatusEQ(pendingsignature.StatusPending),
			pendingsignature.Round(row.Round)).SetState(raw).AddRound(1).SetExpiresAt(exp).Save(sys)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errPendingUsed
		}
		row.Round, row.ExpiresAt = row.Round+1, exp
		return s.ukeyStep(plan, row, &st), nil
	}
	var results []signedDoc
	for _, d := range st.Docs {
		doc := &ent.FlowDocument{ID: d.ID, Name: d.Name, Revision: d.Revision, CurrentSha256: d.Sha256}
		results = append(results, signedDoc{doc: doc, key: d.WorkKey, sum: d.WorkSum, adds: d.Done})
	}
	for fp := range st.Keys {
		plan.ukeys = append(plan.ukeys, fp)
	}
	plan.beforeCommit = func(ctx context.Context, tx *ent.Tx) error {
		n, err := tx.PendingSignature.Update().Where(pendingsignature.ID(row.ID), pendingsignature.StatusEQ(pendingsignature.StatusPending),
			pendingsignature.Round(row.Round)).SetState(raw).SetStatus(pendingsignature.StatusCompleted).SetFinishedAt(s.now()).Save(viewer.System(ctx))
		if err == nil && n == 0 {
			err = errPendingUsed
		}
		return err
	}
	_, err = s.commitSigned(ctx, plan, results)
	if errors.Is(err, errRevisionMoved) {
		s.voidPending(ctx, row.ID)
		return nil, errPendingMoved
	}
	if err != nil {
		return nil, err
	}
	f, err := s.reload(ctx, plan.flow.ID)
	if err != nil {
		return nil, err
	}
	return &UKeyStep{FlowID: f.ID, ContractName: f.Name, Fingerprint: row.Fingerprint, Round: row.Round, Flow: f}, nil
}

// replan rebuilds the checked plan of a pending signature: the flow must
// still be signable by the participant, with the fields and seals it was
// prepared with.
func (s *Service) replan(ctx context.Context, row *ent.PendingSignature, st *ukeyState) (*signPlan, error) {
	sys := viewer.System(ctx)
	f, err := s.db.Flow.Get(sys, row.FlowID)
	if err != nil {
		return nil, err
	}
	p, err := s.db.Participant.Get(sys, row.ParticipantID)
	if err != nil {
		return nil, err
	}
	switch {
	case f.Status != flow.StatusSigning:
		return nil, errs.New(errs.Conflict, "合同"+statusLabel(f.Status)+"，不能签署")
	case f.Deadline != nil && !s.now().Before(*f.Deadline):
		return nil, errs.New(errs.Conflict, "合同已过签署截止时间，不能签署")
	case p.Status == participant.StatusSigned:
		return nil, errs.New(errs.Conflict, "您已签署该合同")
	case p.Status != participant.StatusPending:
		return nil, errs.New(errs.Conflict, "当前不能签署该合同")
	}
	plan := &signPlan{flow: f, part: p, seals: map[signfield.Kind]*ent.Seal{}, scope: row.Scope, fingerp: row.Fingerprint}
	// The other signers, for the grants' counterparties (the commit
	// checks the seals again).
	others, err := s.db.Participant.Query().Where(participant.FlowID(f.ID), participant.RoleEQ(participant.RoleSigner),
		participant.IDNEQ(p.ID)).Order(ent.Asc(participant.FieldID)).All(sys)
	if err != nil {
		return nil, err
	}
	for _, x := range others {
		plan.counterparties = append(plan.counterparties, partyName(x))
	}
	for kind, id := range st.Seals {
		sl, err := s.db.Seal.Query().Where(entseal.ID(id)).Only(sys)
		if err != nil {
			return nil, errs.New(errs.NotFound, "印章不存在")
		}
		if sl.Status != entseal.StatusEnabled {
			return nil, errs.New(errs.Conflict, "印章已停用，请重新签署")
		}
		plan.seals[signfield.Kind(kind)] = sl
	}
	for _, fd := range st.Fields {
		plan.fields = append(plan.fields, &ent.SignField{ID: fd.ID, FlowID: f.ID, DocumentID: fd.DocumentID, Kind: fd.Kind,
			Page: fd.Page, X: fd.X, Y: fd.Y, Width: fd.Width, Height: fd.Height, PlacedBySigner: fd.ID == 0})
	}
	return plan, nil
}

// checkUnmoved voids the pending signature when a document left the
// revision it was prepared on: its digests can no longer be committed.
func (s *Service) checkUnmoved(ctx context.Context, row *ent.PendingSignature, st *ukeyState) error {
	ids := make([]int, len(st.Docs))
	for i, d := range st.Docs {
		ids[i] = d.ID
	}
	docs, err := s.db.FlowDocument.Query().Where(flowdocument.IDIn(ids...)).All(viewer.System(ctx))
	if err != nil {
		return err
	}
	now := map[int]*ent.FlowDocument{}
	for _, d := range docs {
		now[d.ID] = d
	}
	for _, d := range st.Docs {
		if x := now[d.ID]; x == nil || x.Revision != d.Revision || x.CurrentSha256 != d.Sha256 {
			s.voidPending(ctx, row.ID)
			return errPendingMoved
		}
	}
	return nil
}

// voidPending marks a pending signature void (best effort: its expiry
// makes it useless anyway).
func (s *Service) voidPending(ctx context.Context, id int) {
	if err := s.db.PendingSignature.Update().Where(pendingsignature.ID(id), pendingsignature.StatusEQ(pendingsignature.StatusPending)).
		SetStatus(pendingsignature.StatusVoid).SetFinishedAt(s.now()).Exec(viewer.System(context.WithoutCancel(ctx))); err != nil {
		s.log.WarnContext(ctx, "void pending signature", "id", id, "err", err)
	}
}

// CancelUKeySign cancels one of the viewer's pending signatures (the signer
// declined at the helper, or closed the page). Nothing was committed, so
// the flow stays signable. Cancelling one that is no longer pending is a
// Conflict.
func (s *Service) CancelUKeySign(ctx context.Context, pendingID int) error {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return errs.New(errs.Unauthenticated, "请先登录")
	}
	sys := viewer.System(ctx)
	n, err := s.db.PendingSignature.Update().Where(pendingsignature.ID(pendingID), pendingsignature.UserID(v.UserID),
		pendingsignature.StatusEQ(pendingsignature.StatusPending)).
		SetStatus(pendingsignature.StatusCancelled).SetFinishedAt(s.now()).Save(sys)
	if err != nil {
		return err
	}
	if n == 0 {
		ok, err := s.db.PendingSignature.Query().Where(pendingsignature.ID(pendingID), pendingsignature.UserID(v.UserID)).Exist(sys)
		if err != nil {
			return err
		}
		if !ok {
			return errPendingMissing
		}
		return errPendingVoid
	}
	return nil
}

// UKeyBatchInput is a batch signature (DOC-4) in which seals on UKeys are
// admitted; personal fields may be signed with a bound personal UKey.
type UKeyBatchInput struct {
	BatchSignInput
	UKeyCertificate   string
	TokenCertificates []string // as UKeySignInput's
}

// UKeyBatchItem is one flow of a UKey batch: its step (digests waiting, or
// done), or why it was refused or failed.
type UKeyBatchItem struct {
	FlowID int
	Step   *UKeyStep
	Err    error
}

// UKeyCompletion is CompleteUKeySign's input for one flow of a batch.
type UKeyCompletion struct {
	PendingID  int
	Signatures []UKeySignature
}

// SendUKeyBatchIntentCode is SendBatchIntentCode admitting UKey seals: one
// code for every eligible flow.
func (s *Service) SendUKeyBatchIntentCode(ctx context.Context, in UKeyBatchInput) (BatchIntent, error) {
	in.ukey = true
	return s.SendBatchIntentCode(ctx, in.BatchSignInput)
}

// PrepareUKeyBatchSign checks the batch and uses up its code as BatchSign
// does, then prepares every eligible flow as PrepareUKeySign would: one
// pending signature per flow (flows whose seals are all hosted are signed
// at once). The helper confirms each digest. Each flow is then completed on
// its own with CompleteUKeySign (or CompleteUKeyBatchSign), all or nothing
// per flow.
func (s *Service) PrepareUKeyBatchSign(ctx context.Context, in UKeyBatchInput) ([]UKeyBatchItem, error) {
	if s.ca == nil {
		return nil, errs.New(errs.Internal, "签署服务未配置")
	}
	in.ukey = true
	bp, err := s.planBatch(ctx, in.BatchSignInput)
	if err != nil {
		return nil, err
	}
	if len(bp.plans) == 0 {
		return nil, errs.New(errs.Conflict, "所选合同均不能批量签署")
	}
	// A wrong personal UKey refuses the batch before the code is used, and
	// so does a token without a certificate the batch's seals need (their
	// other refusals are the flows' own, below).
	if in.UKeyCertificate != "" {
		if _, err := s.boundUKey(ctx, in.UKeyCertificate); err != nil {
			return nil, err
		}
	}
	if len(in.TokenCertificates) > 0 {
		seals := map[signfield.Kind]*ent.Seal{}
		for _, p := range bp.plans {
			for kind, sl := range p.seals {
				seals[kind] = sl
			}
		}
		if keys, err := s.ukeyKeys(ctx, &signPlan{seals: seals}, in.UKeyCertificate); err == nil {
			if err := checkOnToken(keys, in.TokenCertificates); err != nil {
				return nil, err
			}
		}
	}
	if err := s.acc.ConsumeCode(ctx, "code", viewer.FromContext(ctx).Phone, PurposeIntent, bp.scope, in.Code); err != nil {
		return nil, err
	}
	var out []UKeyBatchItem
	for _, it := range bp.items() {
		item := UKeyBatchItem{FlowID: it.FlowID, Err: it.Err}
		if p := bp.plans[it.FlowID]; p != nil {
			keys, err := s.ukeyKeys(ctx, p, in.UKeyCertificate)
			if err == nil {
				item.Step, err = s.startUKey(ctx, p, keys, in.UKeyCertificate)
			}
			item.Err = s.batchErr(ctx, p.flow.ID, err)
		}
		out = append(out, item)
	}
	return out, nil
}

// CompleteUKeyBatchSign completes several pending signatures, each on its
// own: one flow's failure leaves the others alone.
func (s *Service) CompleteUKeyBatchSign(ctx context.Context, in []UKeyCompletion) ([]UKeyBatchItem, error) {
	if len(in) == 0 || len(in) > MaxBatch {
		return nil, errs.InvalidField("input", fmt.Sprintf("请提交1到%d份合同的签名", MaxBatch))
	}
	out := make([]UKeyBatchItem, len(in))
	for i, c := range in {
		step, err := s.CompleteUKeySign(ctx, c.PendingID, c.Signatures)
		if errs.CodeOf(err) == errs.Unauthenticated {
			return nil, err
		}
		out[i] = UKeyBatchItem{Step: step, Err: s.batchErr(ctx, 0, err)}
		if step != nil {
			out[i].FlowID = step.FlowID
		} else if row, gerr := s.db.PendingSignature.Get(viewer.System(ctx), c.PendingID); gerr == nil && row.UserID == viewer.FromContext(ctx).UserID {
			out[i].FlowID = row.FlowID
		}
	}
	return out, nil
}

// batchErr turns an unclassified failure of one flow into a typed error.
func (s *Service) batchErr(ctx context.Context, flowID int, err error) error {
	if err != nil && errs.As(err) == nil {
		s.log.ErrorContext(ctx, "ukey batch sign", "flow", flowID, "err", err)
		return errs.Wrap(err, errs.Internal, "签署失败，请稍后单独签署该合同")
	}
	return err
}
