package flows_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"testing"

	"signet/audit"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/mail"
	"signet/viewer"
)

// TestDownload: a flow's zip holds its current PDFs and the evidence
// report; a batch holds completed flows in folders; each download is in the
// trail; outsiders, unfinished flows in a batch and oversized batches are
// refused.
func TestDownload(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupFinish(t, b, mail.NewOutbox(10, nil))
		f, doc := e.draftWith(t, "采购合同", nil)
		e.signAll(t, f, doc)
		rec := e.waitEvidence(t, f.ID)
		open, _ := e.draftWith(t, "进行中的合同", nil)
		if _, err := e.svc.Send(e.as("alice"), open.ID); err != nil {
			t.Fatal(err)
		}

		d, err := e.svc.PrepareDownload(e.as("dave"), []int{f.ID}) // the CC recipient
		if err != nil {
			t.Fatal(err)
		}
		files := unzip(t, d)
		_, final, _ := e.svc.DocumentPDF(e.as("alice"), doc.ID)
		if !bytes.Equal(files["劳动合同.pdf"], final) || !bytes.Equal(files["证据报告.json"], e.blob(t, rec.JSONKey)) ||
			len(files["证据报告.html"]) == 0 || len(files["证据报告.json.tsr"]) == 0 || len(files) != 4 {
			t.Fatalf("zip entries %v", d.Entries())
		}
		if n := e.countEvents(t, f.ID, audit.FlowDownloaded); n != 1 {
			t.Fatalf("%d flow.downloaded events", n)
		}

		// An unfinished flow alone: its current documents, no report.
		d, err = e.svc.PrepareDownload(e.as("bob"), []int{open.ID})
		if err != nil {
			t.Fatal(err)
		}
		if files := unzip(t, d); len(files) != 1 {
			t.Fatalf("unfinished flow's zip: %v", d.Entries())
		}

		// A batch of completed flows, one folder each.
		g, gdoc := e.draftWith(t, "采购合同", nil) // the same name: folders must not clash
		e.signAll(t, g, gdoc)
		e.waitEvidence(t, g.ID)
		d, err = e.svc.PrepareDownload(e.as("alice"), []int{f.ID, g.ID, f.ID})
		if err != nil {
			t.Fatal(err)
		}
		if files := unzip(t, d); len(files) != 8 {
			t.Fatalf("batch entries %v", d.Entries())
		}

		// Refusals.
		_, err = e.svc.PrepareDownload(e.as("alice"), []int{f.ID, open.ID})
		wantCode(t, err, errs.Conflict, "批量下载仅限已完成的合同")
		_, err = e.svc.PrepareDownload(e.as("mallory"), []int{f.ID})
		wantCode(t, err, errs.NotFound, "合同不存在")
		_, err = e.svc.PrepareDownload(e.as("bob"), []int{f.ID, 999999})
		wantCode(t, err, errs.NotFound, "合同不存在")
		_, err = e.svc.PrepareDownload(viewer.NewContext(context.Background(), viewer.Viewer{}), []int{f.ID})
		wantCode(t, err, errs.Unauthenticated, "请先登录")
		_, err = e.svc.PrepareDownload(e.as("alice"), nil)
		wantCode(t, err, errs.Invalid, "请选择")
		many := make([]int, flows.MaxBatchDownload+1)
		for i := range many {
			many[i] = f.ID + i
		}
		_, err = e.svc.PrepareDownload(e.as("alice"), many)
		wantCode(t, err, errs.Invalid, "一次最多下载50个合同")
		if n := e.countEvents(t, f.ID, audit.FlowDownloaded); n != 2 {
			t.Fatalf("%d flow.downloaded events after refusals, want 2", n)
		}
	})
}

func unzip(t *testing.T, d *flows.Download) map[string][]byte {
	t.Helper()
	var buf bytes.Buffer
	if err := d.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if _, dup := out[f.Name]; dup {
			t.Fatalf("%s twice in the zip", f.Name)
		}
		out[f.Name] = b
	}
	return out
}
