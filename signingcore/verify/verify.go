package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/signingcore/cms"
	"signet/signingcore/tsa"
)

// Options configures Verify.
type Options struct {
	// Roots are the trusted platform root certificates. A signature whose
	// certificate does not chain to one of them is "not signed by this
	// platform". With no roots, nothing is trusted.
	Roots []*x509.Certificate
	// Revocation, when not nil, is asked about every trusted signer
	// certificate (PKIRevocation for the platform CA).
	Revocation RevocationSource
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verify checks every signature and document time-stamp of pdf and returns
// the report. It returns an errs.Invalid error for input that is not a
// PDF, cannot be read or is encrypted; any verdict, including "invalid"
// and "not signed by this platform", is a report, not an error.
func Verify(pdf []byte, opts Options) (*Report, error) {
	return VerifyContext(context.Background(), pdf, opts)
}

// VerifyContext is Verify with a context, passed to the revocation source.
func VerifyContext(ctx context.Context, pdf []byte, opts Options) (*Report, error) {
	final, err := readView(pdf)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	v := &verifier{
		ctx:      ctx,
		data:     pdf,
		final:    final,
		marks:    revisionMarks(pdf),
		opts:     opts,
		now:      now(),
		prefixes: map[int64]*view{},
	}
	if len(opts.Roots) > 0 {
		v.roots = x509.NewCertPool()
		for _, r := range opts.Roots {
			v.roots.AddCert(r)
		}
	}
	sum := sha256.Sum256(pdf)
	rep := &Report{
		Size:       int64(len(pdf)),
		SHA256:     hex.EncodeToString(sum[:]),
		Revisions:  len(v.marks),
		Pages:      len(final.pages),
		VerifiedAt: v.now,
		Signatures: []Signature{},
	}
	for i, f := range final.signatureFields() {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		s := v.signature(f)
		s.Index = i + 1
		rep.Signatures = append(rep.Signatures, s)
	}
	conclude(rep)
	return rep, nil
}

// verifier holds the state of one Verify call.
type verifier struct {
	ctx      context.Context
	data     []byte
	final    *view
	marks    []int64
	opts     Options
	roots    *x509.CertPool
	now      time.Time
	prefixes map[int64]*view // parsed signed revisions by end offset
}

// result collects problems and notes while one signature is checked.
type result struct {
	problems, notes []string
}

func (r *result) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *result) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// beijing is the time zone of times in Chinese messages.
var beijing = time.FixedZone("CST", 8*3600)

func cnTime(t time.Time) string { return t.In(beijing).Format("2006-01-02 15:04:05") }

func (v *verifier) signature(f sigField) Signature {
	d := f.value
	s := Signature{
		Kind:        KindSignature,
		FieldName:   f.name,
		SubFilter:   nameOf(d["SubFilter"]),
		Name:        textOf(d["Name"]),
		Reason:      textOf(d["Reason"]),
		Location:    textOf(d["Location"]),
		ContactInfo: textOf(d["ContactInfo"]),
		SigningTime: v.now,
	}
	if nameOf(d["Type"]) == "DocTimeStamp" || s.SubFilter == "ETSI.RFC3161" {
		s.Kind = KindDocTimestamp
	}
	if m := textOf(d["M"]); m != "" {
		if t, ok := types.DateTime(m, true); ok {
			s.ClaimedTime = &t
		}
	}
	s.Seal = v.seal(f)
	var r result
	ranges := v.checkByteRange(f, &s, &r)
	contents, _ := contentsBytes(d)
	if n, err := cms.ElementLength(contents); err == nil {
		contents = contents[:n]
	}
	if ranges != nil {
		digestOf := func(h crypto.Hash) []byte {
			hh := h.New()
			for i := 0; i < len(ranges); i += 2 {
				hh.Write(v.data[ranges[i] : ranges[i]+ranges[i+1]])
			}
			return hh.Sum(nil)
		}
		if s.Kind == KindDocTimestamp {
			v.checkDocTimestamp(contents, digestOf, &s, &r)
		} else {
			v.checkApproval(contents, digestOf, &s, &r)
		}
	}
	v.checkChanges(f, &s, &r)

	s.Problems, s.Notes = r.problems, r.notes
	switch {
	case len(s.Problems) > 0:
		s.Status = StatusInvalid
		s.Summary = s.Problems[0]
	case !s.Trusted:
		s.Status = StatusUntrusted
		s.Summary = "签名完整，但签名证书不是本平台签发的（非本平台签署）"
		if s.Kind == KindDocTimestamp {
			s.Summary = "时间戳完整，但时间戳服务不属于本平台"
		}
	default:
		s.Status = StatusValid
		s.Summary = "签名有效"
		if s.Kind == KindDocTimestamp {
			s.Summary = "文档时间戳有效"
		}
		if s.Coverage.ChangesAfter == ModificationSignaturesOnly {
			s.Summary += "，签名后仅追加了签名、时间戳或验证数据"
			for _, c := range s.Coverage.Changes {
				if c.Kind == ChangeFormFill {
					s.Summary += "（含表单填写）"
					break
				}
			}
		}
	}
	return s
}

// seal describes the widget of a signature field.
func (v *verifier) seal(f sigField) Seal {
	var out Seal
	w := f.widget
	if w == nil {
		return out
	}
	if p, ok := v.final.annot[f.widgetNr]; ok && f.widgetNr != 0 {
		out.Page = p
	} else if p, ok := v.final.page[refNum(w["P"])]; ok {
		out.Page = p
	}
	for _, o := range v.final.array(w["Rect"]) {
		switch n := v.final.resolve(o).(type) {
		case types.Integer:
			out.Rect = append(out.Rect, float64(n))
		case types.Float:
			out.Rect = append(out.Rect, float64(n))
		}
	}
	if ap := v.final.dict(w["AP"]); ap != nil && ap["N"] != nil {
		out.HasAppearance = true
	}
	hidden := false
	if fl, ok := v.final.resolve(w["F"]).(types.Integer); ok {
		hidden = fl&(2|32) != 0 // Hidden, NoView
	}
	if len(out.Rect) == 4 {
		area := (out.Rect[2] - out.Rect[0]) * (out.Rect[3] - out.Rect[1])
		out.Visible = out.HasAppearance && area != 0 && !hidden && out.Page > 0
	} else {
		out.Rect = nil
	}
	return out
}

// checkByteRange fills the coverage and the byte-range check and returns
// the ranges to hash, or nil when they cannot be hashed at all.
func (v *verifier) checkByteRange(f sigField, s *Signature, r *result) []int64 {
	br := byteRange(f.value)
	s.Coverage.ChangesAfter = ModificationNone
	if br == nil {
		r.problem("签名字节范围（ByteRange）缺失或格式错误")
		return nil
	}
	s.Coverage.ByteRange = br
	size := int64(len(v.data))
	for i := 0; i < len(br); i += 2 {
		if br[i] > size || br[i+1] > size-br[i] {
			r.problem("签名字节范围超出了文件长度：文件被截断或篡改")
			return nil
		}
	}
	end := br[len(br)-2] + br[len(br)-1]
	s.Coverage.RevisionEnd = end
	s.Coverage.WholeFile = end == size
	for _, m := range v.marks {
		if m <= end {
			s.Coverage.Revision++
		} else {
			s.Coverage.LaterRevisions++
		}
	}
	ok := true
	switch {
	case len(br) != 4 || br[0] != 0 || br[1] >= br[2] || br[2] > end:
		r.problem("签名字节范围不符合规范：必须从文件开头起、只留出签名值")
		ok = false
	default:
		gap := v.data[br[1]:br[2]]
		contents, cok := contentsBytes(f.value)
		if len(gap) < 2 || gap[0] != '<' || gap[len(gap)-1] != '>' || !cok {
			r.problem("签名字节范围留出的部分不是签名值")
			ok = false
			break
		}
		raw, err := hex.DecodeString(string(bytes.Map(dropSpace, gap[1:len(gap)-1])))
		if err != nil || !bytes.Equal(raw, contents) {
			r.problem("签名字节范围留出的部分不是本签名的签名值")
			ok = false
			break
		}
		if f.valueNum != 0 {
			start, stop, found := v.final.objectSpan(v.data, f.valueNum)
			if !found || br[1] < start || br[2] > stop {
				r.problem("签名值不在签名字典之内：签名结构被篡改")
				ok = false
			}
		}
		if !isRevisionEnd(v.data, v.marks, end) {
			r.problem("签名字节范围没有结束在一个文件版本的末尾")
			ok = false
		}
	}
	s.Integrity.ByteRangeOK = ok
	return br
}

func dropSpace(r rune) rune {
	switch r {
	case ' ', '\n', '\r', '\t', '\f':
		return -1
	}
	return r
}

// checkApproval verifies an approval signature's CMS, time-stamp,
// certificate chain and revocation.
func (v *verifier) checkApproval(contents []byte, digestOf func(crypto.Hash) []byte, s *Signature, r *result) {
	switch s.SubFilter {
	case "ETSI.CAdES.detached", "adbe.pkcs7.detached":
	default:
		r.problem("不支持的签名格式 %s", s.SubFilter)
		return
	}
	sd, err := cms.Parse(contents)
	if err != nil {
		r.problem("签名数据（CMS）无法解析")
		return
	}
	if sd.Content != nil || !sd.ContentType.Equal(cms.OIDData) {
		r.problem("签名数据不是分离式签名（detached）")
	}
	c := checkSigner(sd, digestOf)
	s.Integrity.DigestOK, s.Integrity.SignatureOK = c.digestOK, c.signatureOK
	s.Integrity.SigningCertificateOK = c.certAttrOK
	s.Integrity.DigestAlgorithm, s.Integrity.SignatureAlgorithm = c.digestAlg, c.sigAlg
	if c.problem != "" {
		r.problem("%s", c.problem)
	}
	if c.cert == nil {
		return
	}
	s.Signer = describeCert(c.cert)
	switch {
	case c.certAttr && !c.certAttrOK:
		r.problem("签名证书属性（signing-certificate-v2）与签名证书不符")
	case !c.certAttr && s.SubFilter == "ETSI.CAdES.detached":
		r.note("缺少签名证书属性（signing-certificate-v2），不符合 PAdES 基线要求")
	}

	// The signature time-stamp fixes the signing time.
	si := &sd.Signers[0]
	if tokens := attrValues(si.UnsignedAttrs, cms.OIDAttrTimeStampToken); len(tokens) > 0 {
		ts, _, chainProblem := v.checkToken(tokens[0], func(h crypto.Hash) []byte {
			hh := h.New()
			hh.Write(si.Signature)
			return hh.Sum(nil)
		})
		s.Timestamp = ts
		switch {
		case chainProblem != "":
			r.problem("签名时间戳的证书无效：%s", chainProblem)
		case !ts.Valid:
			r.problem("签名时间戳无效：%s", firstProblem(ts.Problems, "时间戳校验失败"))
		case !ts.Trusted:
			r.note("签名时间戳的时间戳服务不受信任，签署时间按验证时间计：%s", firstProblem(ts.Problems, ""))
		default:
			s.SigningTime, s.SigningTimeTrusted = ts.Time, true
		}
	} else {
		r.note("签名没有时间戳，签署时间无法证明，按验证时间检查证书")
	}

	chain, trusted, problem := v.verifyChain(c.cert, sd.Certificates, s.SigningTime, x509.ExtKeyUsageAny)
	s.Trusted = trusted
	s.Chain = describeChain(chain)
	if problem != "" {
		r.problem("%s", problem)
	}
	if trusted && len(chain) > 0 {
		s.Revocation = v.checkRevocation(c.cert, chain[0], s.SigningTime, r)
	} else {
		s.Revocation = RevocationInfo{Status: RevocationNotChecked}
	}
}

// checkDocTimestamp verifies a document time-stamp: the token over the
// byte range and its TSA.
func (v *verifier) checkDocTimestamp(token []byte, digestOf func(crypto.Hash) []byte, s *Signature, r *result) {
	ts, tsaCert, chainProblem := v.checkToken(token, digestOf)
	s.Timestamp = ts
	s.Integrity.DigestOK, s.Integrity.SignatureOK = ts.ImprintOK, ts.SignatureOK
	s.Integrity.SigningCertificateOK = ts.SignatureOK && tsaCert != nil
	s.Integrity.DigestAlgorithm = ts.HashAlgorithm
	s.Signer = ts.TSA
	s.Trusted = ts.Trusted
	s.Revocation = RevocationInfo{Status: RevocationNotChecked}
	if !ts.Valid {
		if !ts.ImprintOK && ts.SignatureOK {
			r.problem("摘要不匹配：时间戳之后文件内容被篡改")
		} else {
			r.problem("文档时间戳无效：%s", firstProblem(ts.Problems, "时间戳校验失败"))
		}
		return
	}
	s.SigningTime, s.SigningTimeTrusted = ts.Time, ts.Trusted
	if chainProblem != "" {
		r.problem("时间戳证书无效：%s", chainProblem)
	}
}

func firstProblem(p []string, def string) string {
	if len(p) > 0 {
		return p[0]
	}
	return def
}

func attrValues(attrs []cms.Attribute, oid []int) [][]byte {
	for _, a := range attrs {
		if a.Type.Equal(oid) {
			return a.Values
		}
	}
	return nil
}

// checkToken verifies an RFC 3161 token whose imprint must be the hash of
// what imprintOf hashes, and its TSA's chain at genTime.
//
// The chain problem is set when the TSA chains to a trusted root but its
// certificates are not valid at genTime or not for time-stamping.
func (v *verifier) checkToken(token []byte, imprintOf func(crypto.Hash) []byte) (ts *Timestamp, tsaCert *x509.Certificate, chainProblem string) {
	ts = &Timestamp{}
	sd, err := cms.Parse(token)
	if err != nil || !sd.ContentType.Equal(cms.OIDTSTInfo) || sd.Content == nil {
		ts.Problems = append(ts.Problems, "时间戳无法解析")
		return ts, nil, ""
	}
	content := sd.Content
	c := checkSigner(sd, func(h crypto.Hash) []byte {
		hh := h.New()
		hh.Write(content)
		return hh.Sum(nil)
	})
	ts.SignatureOK = c.digestOK && c.signatureOK
	if !ts.SignatureOK {
		ts.Problems = append(ts.Problems, "时间戳的签名无效")
	}
	if c.certAttr && !c.certAttrOK {
		ts.SignatureOK = false
		ts.Problems = append(ts.Problems, "时间戳的签名证书属性与时间戳证书不符")
	}
	ts.TSA = describeCert(c.cert)
	info, err := tsa.ParseToken(token)
	if err != nil {
		ts.Problems = append(ts.Problems, "时间戳内容无法解析")
		return ts, c.cert, ""
	}
	ts.Time = info.GenTime
	ts.HashAlgorithm = hashName(info.HashAlgorithm)
	if info.SerialNumber != nil {
		ts.Serial = info.SerialNumber.Text(16)
	}
	ts.Policy = info.Policy.String()
	if info.HashAlgorithm != 0 && info.HashAlgorithm.Available() {
		ts.ImprintOK = bytes.Equal(info.HashedMessage, imprintOf(info.HashAlgorithm))
	}
	if !ts.ImprintOK {
		ts.Problems = append(ts.Problems, "时间戳的消息摘要与被盖时间戳的数据不符")
	}
	ts.Valid = ts.SignatureOK && ts.ImprintOK
	if c.cert != nil && ts.Valid {
		_, trusted, problem := v.verifyChain(c.cert, sd.Certificates, info.GenTime, x509.ExtKeyUsageTimeStamping)
		ts.Trusted = trusted && problem == ""
		chainProblem = problem
		if problem != "" {
			ts.Problems = append(ts.Problems, "时间戳证书："+problem)
		} else if !trusted {
			ts.Problems = append(ts.Problems, "时间戳服务的证书不是本平台签发的")
		}
	}
	return ts, c.cert, chainProblem
}

// verifyChain builds the chain of leaf to a trusted root at time at. It
// returns the chain without the leaf (issuer first), whether it reaches a
// trusted root, and a problem when it does but the certificates are not
// valid at that time or not for that usage.
func (v *verifier) verifyChain(leaf *x509.Certificate, extra []*x509.Certificate, at time.Time, usage x509.ExtKeyUsage) ([]*x509.Certificate, bool, string) {
	if v.roots == nil {
		return nil, false, ""
	}
	inter := x509.NewCertPool()
	for _, c := range extra {
		if !c.Equal(leaf) {
			inter.AddCert(c)
		}
	}
	opts := x509.VerifyOptions{Roots: v.roots, Intermediates: inter, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}}
	chains, err := leaf.Verify(opts)
	if err == nil && len(chains) > 0 {
		return chains[0][1:], true, ""
	}
	// Does it chain at all, at another time or for any usage?
	var inv x509.CertificateInvalidError
	for _, t := range []time.Time{at, leaf.NotBefore.Add(time.Second), leaf.NotAfter.Add(-time.Second)} {
		opts.CurrentTime = t
		opts.KeyUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
		chains, err2 := leaf.Verify(opts)
		if err2 != nil || len(chains) == 0 {
			continue
		}
		switch {
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			return chains[0][1:], true, fmt.Sprintf("证书在签署时间（%s）不在有效期内（%s 至 %s）",
				cnTime(at), cnTime(leaf.NotBefore), cnTime(leaf.NotAfter))
		case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
			return chains[0][1:], true, "证书的用途不允许此类签名"
		default:
			return chains[0][1:], true, "证书链无效：" + err.Error()
		}
	}
	return nil, false, ""
}

func describeChain(chain []*x509.Certificate) []Certificate {
	var out []Certificate
	for _, c := range chain {
		out = append(out, *describeCert(c))
	}
	return out
}

// checkRevocation asks the revocation source about cert at time at.
func (v *verifier) checkRevocation(cert, issuer *x509.Certificate, at time.Time, r *result) RevocationInfo {
	if v.opts.Revocation == nil {
		r.note("未检查证书吊销状态")
		return RevocationInfo{Status: RevocationNotChecked}
	}
	rev, err := v.opts.Revocation.Status(v.ctx, cert, issuer, at)
	if err != nil {
		r.note("无法查询证书吊销状态")
		return RevocationInfo{Status: RevocationUnknown, Source: "platform"}
	}
	info := RevocationInfo{Source: "platform"}
	switch rev.State {
	case Good:
		info.Status = RevocationGood
	case Revoked:
		t := rev.RevokedAt
		info.Status, info.RevokedAt, info.Reason = RevocationRevoked, &t, rev.Reason
		if t.After(at) {
			r.note("签名证书已于 %s 吊销（原因：%s），晚于签署时间 %s，签名仍然有效", cnTime(t), rev.Reason, cnTime(at))
		} else {
			r.problem("签名证书已于 %s 吊销（原因：%s），早于签署时间 %s", cnTime(t), rev.Reason, cnTime(at))
		}
	default:
		info.Status = RevocationUnknown
		r.note("证书吊销状态未知")
	}
	return info
}

// conclude sets the overall verdict, summary and reasons.
func conclude(rep *Report) {
	var invalid, trusted, untrusted int
	changed := false
	for _, s := range rep.Signatures {
		switch s.Status {
		case StatusInvalid:
			invalid++
			for _, p := range s.Problems {
				rep.Reasons = append(rep.Reasons, fmt.Sprintf("签名 %d（%s）：%s", s.Index, s.FieldName, p))
			}
		case StatusUntrusted:
			untrusted++
		}
		if s.Trusted {
			trusted++
		}
		if s.Coverage.ChangesAfter == ModificationChanged {
			changed = true
		}
	}
	switch {
	case len(rep.Signatures) == 0:
		rep.Verdict = VerdictNotPlatform
		rep.Summary = "文件未签名，非本平台签署的文件"
		rep.Reasons = append(rep.Reasons, "文件中没有任何签名")
	case invalid > 0:
		rep.Verdict = VerdictInvalid
		switch {
		case changed:
			rep.Summary = "签名后文件被修改，签名失效"
		case anyTamper(rep):
			rep.Summary = "文件已被篡改，签名无效"
		default:
			rep.Summary = "文件签名无效"
		}
		if trusted == 0 {
			rep.Summary += "（且非本平台签署）"
		}
	case trusted == 0:
		rep.Verdict = VerdictNotPlatform
		rep.Summary = "非本平台签署的文件"
		if len(rep.Signatures) == 1 {
			rep.Reasons = append(rep.Reasons, "签名证书不是本平台签发的")
		} else {
			rep.Reasons = append(rep.Reasons, fmt.Sprintf("%d 个签名的证书都不是本平台签发的", len(rep.Signatures)))
		}
	default:
		rep.Verdict = VerdictValid
		rep.Summary = "文件完整，所有签名有效"
		if untrusted > 0 {
			rep.Summary = fmt.Sprintf("文件完整，本平台签名有效（另有 %d 个非本平台签名）", untrusted)
		}
	}
}

func anyTamper(rep *Report) bool {
	for _, s := range rep.Signatures {
		if s.Status == StatusInvalid && (!s.Integrity.ByteRangeOK || !s.Integrity.DigestOK || !s.Integrity.SignatureOK) {
			return true
		}
	}
	return false
}
