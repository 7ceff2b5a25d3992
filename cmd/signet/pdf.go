package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"signet/errs"
	"signet/signingcore/verify"
	"signet/trust"
)

const pdfUsage = `usage: signet pdf verify [--json] [--root FILE.pem]... [--data DIR] FILE.pdf

Verifies every signature and document time-stamp of FILE.pdf (文档验证) and
prints the report, or the JSON report with --json. The root of the platform CA
in the data folder is trusted and its revocation data consulted; --root adds
another trusted root (PEM, repeatable).

Exit status: 0 valid, 1 invalid (or an error), 2 not signed by this platform.
`

// Exit statuses of `signet pdf verify`.
const (
	exitValid       = 0
	exitInvalid     = 1
	exitNotPlatform = 2
)

// exitError carries a verdict's exit status out of runPDF. It prints
// nothing of its own: the report has already said everything.
type exitError struct {
	code    int
	verdict verify.Verdict
}

func (e *exitError) Error() string { return "verdict " + string(e.verdict) }

// ExitCode is the process exit status for the verdict.
func (e *exitError) ExitCode() int { return e.code }

// rootList is a repeatable --root flag.
type rootList []string

func (r *rootList) String() string     { return strings.Join(*r, ",") }
func (r *rootList) Set(v string) error { *r = append(*r, v); return nil }

// runPDF runs `signet pdf verify`. A verdict other than valid is returned
// as an *exitError after the report is printed.
func runPDF(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, pdfUsage)
		return errors.New("pdf: missing subcommand")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, pdfUsage)
		return nil
	case "verify":
	default:
		fmt.Fprint(stderr, pdfUsage)
		return fmt.Errorf("pdf: unknown subcommand %q", args[0])
	}
	fs := flag.NewFlagSet("signet pdf verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f caFlags
	f.register(fs, getenv)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var roots rootList
	fs.Var(&roots, "root", "also trust the root certificate(s) in this PEM file (repeatable)")
	// Flags may follow the file name too.
	var file string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		if file != "" {
			return fmt.Errorf("pdf verify: one file at a time (got %q and %q)", file, fs.Arg(0))
		}
		file, rest = fs.Arg(0), fs.Args()[1:]
	}
	if file == "" {
		fmt.Fprint(stderr, pdfUsage)
		return errors.New("pdf verify: missing FILE.pdf")
	}

	var opts verify.Options
	p, _, err := openCA(ctx, f, false)
	switch {
	case err == nil:
		defer p.Close()
		root, err := p.CA.RootCertificate()
		if err != nil {
			return fmt.Errorf("pdf verify: %w", err)
		}
		opts.Roots = append(opts.Roots, root)
		opts.Revocation = verify.PKIRevocation{CA: p.CA}
	case errors.Is(err, trust.ErrNoCA) && len(roots) > 0:
		// Only the --root certificates are trusted.
	default:
		return fmt.Errorf("pdf verify: %w (or pass --root FILE.pem)", err)
	}
	for _, path := range roots {
		certs, err := readPEMCertificates(path)
		if err != nil {
			return fmt.Errorf("pdf verify: --root: %w", err)
		}
		opts.Roots = append(opts.Roots, certs...)
	}

	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("pdf verify: %w", err)
	}
	rep, err := verify.VerifyContext(ctx, data, opts)
	if err != nil {
		if e := errs.As(err); e != nil && e.Code == errs.Invalid {
			return fmt.Errorf("pdf verify: %s: %s", file, e.Message)
		}
		return fmt.Errorf("pdf verify: %w", err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("pdf verify: %w", err)
		}
	} else {
		printReport(stdout, file, rep)
	}
	switch rep.Verdict {
	case verify.VerdictValid:
		return nil
	case verify.VerdictNotPlatform:
		return &exitError{code: exitNotPlatform, verdict: rep.Verdict}
	default:
		return &exitError{code: exitInvalid, verdict: rep.Verdict}
	}
}

// readPEMCertificates reads every CERTIFICATE block of a PEM file.
func readPEMCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return out, nil
}

// word returns the printed form of a report value: the Chinese word, then
// the JSON value, so an operator can match the text to the API.
func word(v string) string {
	switch v {
	case string(verify.VerdictValid):
		return "有效 valid"
	case string(verify.VerdictInvalid):
		return "无效 invalid"
	case string(verify.VerdictNotPlatform):
		return "非本平台签署 not_platform"
	case string(verify.StatusUntrusted):
		return "非本平台 untrusted"
	case string(verify.ModificationNone):
		return "无 none"
	case string(verify.ModificationSignaturesOnly):
		return "仅追加签名等允许的更新 signatures_only"
	case string(verify.ModificationChanged):
		return "内容被修改 changed"
	case verify.RevocationGood:
		return "未吊销 good"
	case verify.RevocationRevoked:
		return "已吊销 revoked"
	case verify.RevocationUnknown:
		return "未知 unknown"
	case verify.RevocationNotChecked:
		return "未检查 not_checked"
	}
	return v
}

func yes(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func localTime(t time.Time) string {
	return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04:05 (UTC+8)")
}

// printReport writes the report for people: Chinese labels with the JSON
// key names after them, so an operator can match it to the API.
func printReport(w io.Writer, file string, rep *verify.Report) {
	fmt.Fprintf(w, "文件 file:           %s\n", file)
	fmt.Fprintf(w, "结论 verdict:        %s — %s\n", word(string(rep.Verdict)), rep.Summary)
	for _, r := range rep.Reasons {
		fmt.Fprintf(w, "  原因 reason:       %s\n", r)
	}
	fmt.Fprintf(w, "大小 size:           %d bytes, sha256 %s\n", rep.Size, rep.SHA256)
	fmt.Fprintf(w, "页数 pages:          %d，版本 revisions: %d，签名 signatures: %d\n", rep.Pages, rep.Revisions, len(rep.Signatures))
	fmt.Fprintf(w, "验证时间 verifiedAt: %s\n", localTime(rep.VerifiedAt))
	for _, s := range rep.Signatures {
		kind := "签名 signature"
		if s.Kind == verify.KindDocTimestamp {
			kind = "文档时间戳 doc_timestamp"
		}
		fmt.Fprintf(w, "\n[%d] %s “%s” — %s\n", s.Index, kind, s.FieldName, word(string(s.Status)))
		fmt.Fprintf(w, "    摘要 summary:            %s\n", s.Summary)
		for _, p := range s.Problems {
			fmt.Fprintf(w, "    问题 problem:            %s\n", p)
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "    备注 note:               %s\n", n)
		}
		if c := s.Signer; c != nil {
			who := c.CommonName
			if c.Organization != "" && c.Organization != c.CommonName {
				who += " / " + c.Organization
			}
			fmt.Fprintf(w, "    签署人 signer:           %s\n", who)
			if c.SubjectSerialNumber != "" {
				fmt.Fprintf(w, "    标识 subjectSerialNumber: %s\n", c.SubjectSerialNumber)
			}
			if c.OrganizationIdentifier != "" {
				fmt.Fprintf(w, "    机构标识 organizationIdentifier: %s\n", c.OrganizationIdentifier)
			}
			fmt.Fprintf(w, "    证书序列号 serial:       %s\n", c.Serial)
			fmt.Fprintf(w, "    颁发者 issuer:           %s\n", c.Issuer)
			fmt.Fprintf(w, "    有效期 validity:         %s 至 %s\n", localTime(c.NotBefore), localTime(c.NotAfter))
		}
		chain := "不受信任 untrusted"
		if s.Trusted {
			var names []string
			for _, c := range s.Chain {
				names = append(names, c.CommonName)
			}
			chain = "受信任 trusted (" + strings.Join(names, " → ") + ")"
		}
		fmt.Fprintf(w, "    证书链 trusted:          %s\n", chain)
		if s.Kind == verify.KindSignature {
			rev := word(s.Revocation.Status)
			if s.Revocation.RevokedAt != nil {
				rev += fmt.Sprintf("，吊销于 revokedAt %s（%s）", localTime(*s.Revocation.RevokedAt), s.Revocation.Reason)
			}
			fmt.Fprintf(w, "    吊销状态 revocation:     %s\n", rev)
		}
		src := "验证时间 verification time"
		if s.SigningTimeTrusted {
			src = "时间戳 timestamp"
		}
		fmt.Fprintf(w, "    签署时间 signingTime:    %s（%s）\n", localTime(s.SigningTime), src)
		if s.ClaimedTime != nil {
			fmt.Fprintf(w, "    声明时间 claimedTime:    %s（/M，签署方自报）\n", localTime(*s.ClaimedTime))
		}
		if ts := s.Timestamp; ts != nil {
			fmt.Fprintf(w, "    时间戳 timestamp:        %s 有效 valid %s 受信任 trusted %s", localTime(ts.Time), yes(ts.Valid), yes(ts.Trusted))
			if ts.TSA != nil {
				fmt.Fprintf(w, "，TSA %s", ts.TSA.CommonName)
			}
			fmt.Fprintln(w)
		}
		in := s.Integrity
		fmt.Fprintf(w, "    完整性 integrity:        byteRange %s digest %s signature %s signingCertificate %s (%s %s)\n",
			yes(in.ByteRangeOK), yes(in.DigestOK), yes(in.SignatureOK), yes(in.SigningCertificateOK), in.SignatureAlgorithm, in.DigestAlgorithm)
		cov := s.Coverage
		whole := "覆盖整个文件 whole file"
		if !cov.WholeFile {
			whole = fmt.Sprintf("之后追加了 %d 个版本 later revisions", cov.LaterRevisions)
		}
		fmt.Fprintf(w, "    覆盖范围 coverage:       版本 revision %d，%s，byteRange %v\n", cov.Revision, whole, cov.ByteRange)
		fmt.Fprintf(w, "    签名后修改 changesAfter: %s\n", word(string(cov.ChangesAfter)))
		for _, c := range cov.Changes {
			mark := "不允许 not allowed"
			if c.Allowed {
				mark = "允许 allowed"
			}
			fmt.Fprintf(w, "      - [%s] %s\n", mark, c.Description)
		}
		seal := "无可见印章 invisible"
		if s.Seal.Visible {
			seal = "可见 visible"
		}
		fmt.Fprintf(w, "    印章 seal:               第 %d 页 page %d，%s，外观 appearance %s\n", s.Seal.Page, s.Seal.Page, seal, yes(s.Seal.HasAppearance))
	}
}
