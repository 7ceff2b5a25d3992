package flows_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/mail"
	"signet/signingcore/verify"
	"signet/viewer"
)

// TestVerifyFile (VER-1): a downloaded document verifies and names its flow
// for the parties; an earlier copy names it too; a tampered copy is caught;
// a file signed elsewhere is not the platform's; outsiders and anonymous
// users get the report without the flow; non-PDFs are refused.
func TestVerifyFile(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupFinish(t, b, mail.NewOutbox(10, nil))
		f, doc := e.draftWith(t, "采购合同", nil)
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.sign(t, "bob", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}); err != nil {
			t.Fatal(err)
		}
		_, halfway, _ := e.svc.DocumentPDF(e.as("bob"), doc.ID) // one signature
		if _, err := e.sign(t, "carol", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"],
			Placements: []flows.Placement{{DocumentID: doc.ID, Kind: "personal_seal", Page: 1, X: 300, Y: 80, Width: 100, Height: 40}}}); err != nil {
			t.Fatal(err)
		}
		e.waitEvidence(t, f.ID)
		_, final, _ := e.svc.DocumentPDF(e.as("alice"), doc.ID)

		res, err := e.svc.VerifyFile(e.as("dave"), bytes.NewReader(final))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Platform || res.Report.Verdict != verify.VerdictValid || len(res.Report.Signatures) != 3 ||
			res.Flow == nil || res.Flow.ID != f.ID || res.Flow.DocumentID != doc.ID || res.Flow.Match != "current" || res.Flow.Status != "completed" {
			t.Fatalf("final document: %+v %+v", res, res.Flow)
		}
		res, err = e.svc.VerifyFile(e.as("bob"), bytes.NewReader(halfway))
		if err != nil {
			t.Fatal(err)
		}
		if res.Report.Verdict != verify.VerdictValid || res.Flow == nil || res.Flow.ID != f.ID || res.Flow.Match != "earlier" {
			t.Fatalf("half-way copy: %s %+v", res.Report.Verdict, res.Flow)
		}

		// Tampered: a byte of the signed content changed.
		bad := append([]byte(nil), final...)
		i := bytes.Index(bad, []byte("stream")) + 20
		bad[i] ^= 0x20
		res, err = e.svc.VerifyFile(e.as("alice"), bytes.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		if res.Report.Verdict != verify.VerdictInvalid || !res.Platform || res.Message == "" || res.Flow != nil {
			t.Fatalf("tampered: %s %q %+v", res.Report.Verdict, res.Message, res.Flow)
		}
		// Tampered inside the last revision (the document time-stamp's
		// update, same length): the earlier revisions are intact, so the
		// file is still recognised as the flow's, and reported invalid.
		edited := append([]byte(nil), final...)
		prev := bytes.LastIndex(edited[:bytes.LastIndex(edited, []byte("%%EOF"))], []byte("%%EOF"))
		j := prev + bytes.Index(edited[prev:], []byte(" obj\n")) + 4
		edited[j] = ' '
		res, err = e.svc.VerifyFile(e.as("alice"), bytes.NewReader(edited))
		if err != nil {
			t.Fatal(err)
		}
		if res.Report.Verdict != verify.VerdictInvalid || res.Flow == nil || res.Flow.ID != f.ID || res.Flow.Match != "earlier" {
			t.Fatalf("edited last revision: %s %v %+v", res.Report.Verdict, res.Report.Reasons, res.Flow)
		}

		// Outsiders and anonymous users: the report, not the flow.
		for _, ctx := range []context.Context{e.as("mallory"), viewer.NewContext(context.Background(), viewer.Viewer{})} {
			res, err = e.svc.VerifyFile(ctx, bytes.NewReader(final))
			if err != nil {
				t.Fatal(err)
			}
			if res.Report.Verdict != verify.VerdictValid || res.Flow != nil {
				t.Fatalf("outsider: %s %+v", res.Report.Verdict, res.Flow)
			}
		}

		// Not signed here.
		res, err = e.svc.VerifyFile(e.as("alice"), bytes.NewReader(testpdf.Make(1)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Platform || res.Message != flows.NotPlatformMessage || res.Flow != nil {
			t.Fatalf("unsigned file: %+v", res)
		}
		// Not a PDF.
		_, err = e.svc.VerifyFile(e.as("alice"), strings.NewReader("hello"))
		wantCode(t, err, errs.Invalid, "请上传 PDF 文件")
		_, err = e.svc.VerifyFile(e.as("alice"), bytes.NewReader(append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("x"), 100)...)))
		if errs.CodeOf(err) != errs.Invalid {
			t.Fatalf("garbage PDF: %v", err)
		}
	})
}
