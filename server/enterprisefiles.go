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
)

// CertDocuments is what the enterprise file endpoints need from the
// enterprises domain: the documents of a certificate application.
type CertDocuments interface {
	UploadDocumentFrom(ctx context.Context, orderID int, kind, fileName string, r io.Reader) (*ent.CertDocument, error)
	DocumentContent(ctx context.Context, documentID int) (*ent.CertDocument, io.ReadCloser, error)
}

// maxCertDocumentUpload bounds the multipart body of one application
// document (the domain refuses files over 5 MiB with a clear message).
const maxCertDocumentUpload = 6 << 20

// certDocumentRoutes mounts:
//
//	POST /files/enterprise-orders/{id}/documents/{kind}   multipart: file
//	GET  /files/enterprise-documents/{id}                 the stored document
//
// kind is authorization_letter, business_license, applicant_id_front or
// applicant_id_back. Only the order's applicant may upload and download.
func certDocumentRoutes(r chi.Router, docs CertDocuments, log *slog.Logger) {
	writeError := func(w http.ResponseWriter, req *http.Request, err error) { writeErrorLogged(w, req, err, log) }
	r.Post("/files/enterprise-orders/{id}/documents/{kind}", func(w http.ResponseWriter, req *http.Request) {
		orderID, err := strconv.Atoi(chi.URLParam(req, "id"))
		if err != nil {
			writeError(w, req, errs.New(errs.NotFound, "认证订单不存在"))
			return
		}
		req.Body = http.MaxBytesReader(w, req.Body, maxCertDocumentUpload)
		mr, err := req.MultipartReader()
		if err != nil {
			writeError(w, req, errs.InvalidField("file", "请以 multipart/form-data 上传文件"))
			return
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				writeError(w, req, errs.InvalidField("file", "上传内容不完整或文件过大（最大5MB）"))
				return
			}
			if part.FormName() != "file" {
				continue
			}
			doc, err := docs.UploadDocumentFrom(req.Context(), orderID, chi.URLParam(req, "kind"), part.FileName(), part)
			if err != nil {
				writeError(w, req, err)
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(map[string]any{"id": doc.ID, "kind": doc.Kind, "fileName": doc.FileName,
				"contentType": doc.ContentType, "size": doc.Size, "sha256": doc.Sha256})
			return
		}
		writeError(w, req, errs.InvalidField("file", "请选择要上传的文件"))
	})
	r.Get("/files/enterprise-documents/{id}", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.Atoi(chi.URLParam(req, "id"))
		if err != nil {
			writeError(w, req, errs.New(errs.NotFound, "材料不存在"))
			return
		}
		doc, rc, err := docs.DocumentContent(req.Context(), id)
		if err != nil {
			writeError(w, req, err)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Type", doc.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(doc.Size))
		w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": "document"})+
			"; filename*=UTF-8''"+url.PathEscape(doc.FileName))
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = io.Copy(w, rc)
	})
}
