package server

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// appHandler serves the embedded client: real files as they are, any other
// GET path the single-page app's index.html (client-side routes such as
// /s/{code}). Without a build it says how to make one.
func appHandler(app fs.FS) http.HandlerFunc {
	files := http.FileServerFS(app)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "不支持的请求方法", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		if st, err := fs.Stat(app, name); err == nil && !st.IsDir() {
			if strings.HasPrefix(name, "assets/") {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
			files.ServeHTTP(w, r)
			return
		}
		if path.Ext(name) != "" && name != "index.html" {
			http.NotFound(w, r)
			return
		}
		index, err := fs.ReadFile(app, "index.html")
		if errors.Is(err, fs.ErrNotExist) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("前端页面尚未构建：请运行 make run（或 make build）。\nThe client is not built: run make run.\n"))
			return
		}
		if err != nil {
			http.Error(w, "系统繁忙，请稍后再试", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(index)
	}
}
