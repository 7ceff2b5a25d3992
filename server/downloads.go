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
	"strings"

	"github.com/go-chi/chi/v5"

	"signet/errs"
	"signet/flows"
	"signet/viewer"
)

// Downloads is what the zip and verification endpoints need from the flows
// domain; fileRoutes mounts them when Documents also implements it.
type Downloads interface {
	PrepareDownload(ctx context.Context, ids []int) (*flows.Download, error)
	VerifyFile(ctx context.Context, r io.Reader) (*flows.Verification, error)
}

// downloadRoutes mounts:
//
//	GET  /files/flows/{id}/zip       one flow: its current PDFs and the evidence report
//	GET  /files/flows/zip?ids=1,2,3  several completed flows (批量下载, at most 50)
//	POST /files/verify               multipart: file (PDF) → the verification report (VER-1)
func downloadRoutes(r chi.Router, dl Downloads, log *slog.Logger) {
	writeError := func(w http.ResponseWriter, req *http.Request, err error) { writeErrorLogged(w, req, err, log) }
	serveZip := func(w http.ResponseWriter, req *http.Request, ids []int) {
		d, err := dl.PrepareDownload(req.Context(), ids)
		if err != nil {
			writeError(w, req, err)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name})+"; filename*=UTF-8''"+url.PathEscape(d.Name))
		w.Header().Set("Cache-Control", "private, no-store")
		if err := d.WriteTo(req.Context(), w); err != nil {
			// The status is sent; the client sees a truncated zip.
			log.ErrorContext(req.Context(), "zip download failed", "err", err, "path", req.URL.Path,
				"request_id", viewer.ClientFrom(req.Context()).RequestID)
		}
	}
	r.Get("/files/flows/zip", func(w http.ResponseWriter, req *http.Request) {
		var ids []int
		for _, s := range strings.Split(req.URL.Query().Get("ids"), ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			id, err := strconv.Atoi(s)
			if err != nil {
				writeError(w, req, errs.InvalidField("ids", "合同编号不正确"))
				return
			}
			ids = append(ids, id)
		}
		serveZip(w, req, ids)
	})
	r.Get("/files/flows/{id}/zip", func(w http.ResponseWriter, req *http.Request) {
		id, err := strconv.Atoi(chi.URLParam(req, "id"))
		if err != nil {
			writeError(w, req, errs.New(errs.NotFound, "合同不存在"))
			return
		}
		serveZip(w, req, []int{id})
	})
	r.Post("/files/verify", func(w http.ResponseWriter, req *http.Request) {
		req.Body = http.MaxBytesReader(w, req.Body, maxUpload)
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
				writeError(w, req, errs.InvalidField("file", "上传内容不完整或文件过大（最大20MB）"))
				return
			}
			if part.FormName() != "file" {
				continue
			}
			res, err := dl.VerifyFile(req.Context(), part)
			if err != nil {
				writeError(w, req, err)
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Cache-Control", "private, no-store")
			_ = json.NewEncoder(w).Encode(res)
			return
		}
		writeError(w, req, errs.InvalidField("file", "请选择要验证的 PDF 文件"))
	})
}
