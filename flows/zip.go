package flows

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"signet/audit"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/privacy"
	"signet/errs"
	"signet/jobs"
	"signet/viewer"
)

// Download (DOC-5, DOC-8): a zip of a flow's current PDFs and, once the
// completion job made it, its evidence report (HTML, JSON and the JSON's
// time-stamp token); or a batch of completed flows, one folder each. Who may
// download is who may see the documents (the privacy rules of flows, as for
// GET /files/documents/{id}). Each downloaded flow gets a flow.downloaded
// audit event before the first byte is sent.

// MaxBatchDownload bounds the flows of one batch download.
const MaxBatchDownload = 50

// Download is a prepared zip; WriteTo streams it.
type Download struct {
	// Name is the zip's file name.
	Name    string
	s       *Service
	entries []zipEntry
}

type zipEntry struct {
	name     string
	key      string
	modified time.Time
	compress bool
}

// PrepareDownload checks that the viewer may download flows ids, records the
// download in each flow's trail and returns what to stream. One id may be
// any flow the viewer sees; several (at most MaxBatchDownload) must all be
// completed (批量下载). Errors: Unauthenticated, Invalid (ids), NotFound
// (a flow the viewer cannot see), Conflict (a batch with an unfinished flow).
func (s *Service) PrepareDownload(ctx context.Context, ids []int) (*Download, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	uniq := []int{}
	seen := map[int]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if len(uniq) == 0 {
		return nil, errs.InvalidField("ids", "请选择要下载的合同")
	}
	if len(uniq) > MaxBatchDownload {
		return nil, errs.InvalidField("ids", fmt.Sprintf("一次最多下载%d个合同", MaxBatchDownload))
	}
	fs, err := s.db.Flow.Query().Where(flow.IDIn(uniq...)).Order(ent.Asc(flow.FieldID)).All(ctx) // privacy: visible flows only
	if errors.Is(err, privacy.Deny) {
		return nil, notFound()
	}
	if err != nil {
		return nil, err
	}
	if len(fs) != len(uniq) {
		return nil, notFound()
	}
	batch := len(fs) > 1
	d := &Download{s: s}
	names := map[string]int{}
	for _, f := range fs {
		if batch && f.Status != flow.StatusCompleted {
			return nil, errs.New(errs.Conflict, "批量下载仅限已完成的合同：《"+f.Name+"》"+statusLabel(f.Status))
		}
		if err := s.requirePasscode(ctx, f); err != nil {
			return nil, err
		}
		prefix := ""
		if batch {
			prefix = uniqueName(names, safeName(f.Number+"_"+f.Name)) + "/"
		}
		docs, err := s.db.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).
			Order(ent.Asc(flowdocument.FieldPosition), ent.Asc(flowdocument.FieldID)).All(ctx)
		if err != nil {
			return nil, err
		}
		if len(docs) == 0 && !batch {
			return nil, errs.New(errs.NotFound, "该合同还没有文件")
		}
		inner := map[string]int{}
		for _, doc := range docs {
			d.entries = append(d.entries, zipEntry{name: prefix + uniqueName(inner, safeName(doc.Name)+".pdf"), key: doc.CurrentKey, modified: doc.UpdatedAt})
		}
		rec, err := s.evidenceRecord(ctx, f.ID)
		if err != nil {
			return nil, err
		}
		if rec != nil {
			d.entries = append(d.entries,
				zipEntry{name: prefix + "证据报告.html", key: rec.HTMLKey, modified: rec.GeneratedAt, compress: true},
				zipEntry{name: prefix + "证据报告.json", key: rec.JSONKey, modified: rec.GeneratedAt, compress: true},
				zipEntry{name: prefix + "证据报告.json.tsr", key: rec.TokenKey, modified: rec.GeneratedAt})
		}
		if !batch {
			d.Name = safeName(f.Number+"_"+f.Name) + ".zip"
		}
	}
	if batch {
		d.Name = "签网合同_" + s.now().In(shanghai()).Format("20060102150405") + ".zip"
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		for _, f := range fs {
			if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
				Action: audit.FlowDownloaded, Subject: audit.Subject{Type: "flow", ID: f.ID},
				Payload: map[string]any{"batch": batch, "files": len(d.entries)}}); err != nil {
				return err
			}
			s.announce(tx, f, audit.FlowDownloaded, f.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Entries lists the file names in the zip, in order.
func (d *Download) Entries() []string {
	out := make([]string, len(d.entries))
	for i, e := range d.entries {
		out[i] = e.name
	}
	return out
}

// WriteTo streams the zip to w, one stored file at a time.
func (d *Download) WriteTo(ctx context.Context, w io.Writer) error {
	zw := zip.NewWriter(w)
	for _, e := range d.entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		method := zip.Store // PDFs are compressed inside already
		if e.compress {
			method = zip.Deflate
		}
		hdr := &zip.FileHeader{Name: e.name, Method: method, Modified: e.modified}
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		rc, err := d.s.OpenRevision(ctx, e.key)
		if err != nil {
			return fmt.Errorf("zip %s: %w", e.name, err)
		}
		_, err = io.Copy(fw, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("zip %s: %w", e.name, err)
		}
	}
	return zw.Close()
}

// safeName makes a name usable as a file name in a zip and in mail: no path
// separators or control characters, at most 80 characters.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\' || r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|':
			return '_'
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	s = strings.Trim(s, ". ")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80])
	}
	if s == "" {
		s = "合同"
	}
	return s
}

// uniqueName returns name, or name with " (2)", " (3)"… before its
// extension when used already.
func uniqueName(used map[string]int, name string) string {
	used[name]++
	if used[name] == 1 {
		return name
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i:]
	}
	return uniqueName(used, fmt.Sprintf("%s (%d)%s", base, used[name], ext))
}
