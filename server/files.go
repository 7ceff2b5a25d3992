package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"signet/ent"
	"signet/errs"
	"signet/viewer"
)

// Documents is what the file endpoints need from the flows domain.
type Documents interface {
	AddDocument(ctx context.Context, flowID int, name string, r io.Reader) (*ent.FlowDocument, error)
	DocumentPDF(ctx context.Context, documentID int) (*ent.FlowDocument, []byte, error)
}

// maxUpload bounds a multipart upload (the domain checks the PDF's own limit).
const maxUpload = 25 << 20

// fileRoutes mounts the plain-HTTP file endpoints:
//
//	POST /files/flows/{id}/documents   multipart: file (PDF), name (optional)
//	GET  /files/documents/{id}         the document's current revision
func fileRoutes(r chi.Router, docs Documents, log *slog.Logger) {
	writeError := func(w http.ResponseWriter, req *http.Request, err error) { writeErrorLogged(w, req, err, log) }
	r.Post("/files/flows/{id}/documents", func(w http.ResponseWriter, req *http.Request) {
		flowID, err := strconv.Atoi(chi.URLParam(req, "id"))
		if err != nil {
			writeError(w, req, errs.New(errs.NotFound, "合同不存在"))
			return
		}
		req.Body = http.MaxBytesReader(w, req.Body, maxUpload)
		mr, err := req.MultipartReader()
		if err != nil {
			writeError(w, req, errs.InvalidField("file", "请以 multipart/form-data 上传文件"))
			return
		}
		name := ""
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				writeError(w, req, errs.InvalidField("file", "上传内容不完整或文件过大（最大20MB）"))
				return
			}
			switch part.FormName() {
			case "name":
				b, _ := io.ReadAll(io.LimitReader(part, 512))
				name = string(b)
			case "file":
				if name == "" {
					name = part.FileName()
				}
				doc, err := docs.AddDocument(req.Context(), flowID, name, part)
				if err != nil {
					writeError(w, req, err)
					return
				}
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusCreated)
				_ = json.NewEncoder(w).Encode(map[string]any{"id": strconv.Itoa(doc.ID), "name": doc.Name, "pages": doc.Pages, "sha256": doc.OriginalSha256})
				return
			}
		}
		writeError(w, req, errs.InvalidField("file", "请选择要上传的 PDF 文件"))
	})
	if dl, ok := docs.(Downloads); ok {
		downloadRoutes(r, dl, log)
	}
	r.Get("/files/documents/{id}", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.Atoi(chi.URLParam(req, "id"))
		if err != nil {
			writeError(w, req, errs.New(errs.NotFound, "文件不存在"))
			return
		}
		doc, pdf, err := docs.DocumentPDF(req.Context(), id)
		if err != nil {
			writeError(w, req, err)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": doc.Name + ".pdf"})+"; filename*=UTF-8''"+url.PathEscape(doc.Name+".pdf"))
		w.Header().Set("Cache-Control", "private, no-store")
		_, _ = w.Write(pdf)
	})
}

// writeErrorLogged answers a plain HTTP request with the error vocabulary's
// status and a GraphQL-shaped JSON body; internal errors are logged, never shown.
func writeErrorLogged(w http.ResponseWriter, req *http.Request, err error, log *slog.Logger) {
	if errs.CodeOf(err) == errs.Internal {
		log.ErrorContext(req.Context(), "internal error", "err", err, "path", req.URL.Path,
			"request_id", viewer.ClientFrom(req.Context()).RequestID)
	}
	status := map[errs.Code]int{
		errs.Invalid: 400, errs.Unauthenticated: 401, errs.Forbidden: 403, errs.NotFound: 404,
		errs.Conflict: 409, errs.RateLimited: 429, errs.Internal: 500,
	}[errs.CodeOf(err)]
	writeJSONError(w, status, errs.CodeOf(err), errs.MessageOf(err))
}
