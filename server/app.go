package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// appEncodings are the content codings the client build precompresses
// (mobile/vite.config.ts writes name.br and name.gz beside a file when they
// are worth it), in order of preference when the client accepts both.
var appEncodings = []struct{ coding, ext string }{
	{"br", ".br"},
	{"gzip", ".gz"},
}

// appFile is one servable file of the built client.
type appFile struct {
	name  string // path in the app FS
	ctype string // by the extension of name; "" lets ServeContent sniff
	// etag identifies the identity bytes; an encoded variant's ETag adds
	// the coding, since each representation needs its own strong validator.
	etag string
	// variants maps a content coding to the path of its precompressed copy.
	variants map[string]string
}

// appHandler serves the embedded client: real files as they are, any other
// GET path the single-page app's index.html (client-side routes such as
// /s/{code}). Without a build it says how to make one.
//
// Files are read and hashed once, here: the FS is the binary's embedded,
// immutable dist. A file with precompressed copies (app.js.br, app.js.gz) is
// sent in the best coding the request's Accept-Encoding allows, with
// Vary: Accept-Encoding; the copies themselves are not served by name.
// Every response has a strong ETag, so conditional and range requests work
// (http.ServeContent). Hashed assets (assets/…) are cached for a year;
// everything else, index.html above all, is revalidated on each use.
func appHandler(app fs.FS) http.HandlerFunc {
	files := indexApp(app)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "不支持的请求方法", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" {
			name = "index.html"
		}
		f := files[name]
		if f == nil && path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
		if f == nil {
			f = files["index.html"]
		}
		if f == nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("前端页面尚未构建：请运行 make run（或 make build）。\nThe client is not built: run make run.\n"))
			return
		}
		serveAppFile(w, r, app, f)
	}
}

// indexApp lists the servable files of app: every regular file except the
// precompressed copies of another file, which become its variants. A
// missing or unreadable FS gives an empty index (the not-built page).
func indexApp(app fs.FS) map[string]*appFile {
	files := map[string]*appFile{}
	if app == nil {
		return files
	}
	var names []string
	_ = fs.WalkDir(app, ".", func(name string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			names = append(names, name)
		}
		return nil
	})
	exists := map[string]bool{}
	for _, n := range names {
		exists[n] = true
	}
	isVariant := func(n string) bool {
		for _, e := range appEncodings {
			if base, ok := strings.CutSuffix(n, e.ext); ok && exists[base] {
				return true
			}
		}
		return false
	}
	for _, n := range names {
		if isVariant(n) {
			continue
		}
		b, err := fs.ReadFile(app, n)
		if err != nil {
			continue
		}
		sum := sha256.Sum256(b)
		f := &appFile{
			name:  n,
			ctype: mime.TypeByExtension(path.Ext(n)),
			etag:  base64.RawURLEncoding.EncodeToString(sum[:12]),
		}
		for _, e := range appEncodings {
			if exists[n+e.ext] {
				if f.variants == nil {
					f.variants = map[string]string{}
				}
				f.variants[e.coding] = n + e.ext
			}
		}
		files[n] = f
	}
	return files
}

func serveAppFile(w http.ResponseWriter, r *http.Request, app fs.FS, f *appFile) {
	h := w.Header()
	if strings.HasPrefix(f.name, "assets/") {
		// Vite names them by their content hash: a new build, a new name.
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	name, etag := f.name, f.etag
	coding := ""
	if len(f.variants) > 0 {
		h.Add("Vary", "Accept-Encoding")
		coding = negotiateEncoding(r.Header.Values("Accept-Encoding"), f.variants)
	}
	if coding != "" {
		name, etag = f.variants[coding], etag+"-"+coding
		h.Set("Content-Encoding", coding)
	}
	h.Set("ETag", `"`+etag+`"`)
	if f.ctype != "" {
		h.Set("Content-Type", f.ctype)
	} else if coding != "" {
		// ServeContent would sniff the compressed bytes.
		h.Set("Content-Type", "application/octet-stream")
	}

	content, size, err := openSeeker(app, name)
	if err != nil {
		h.Del("Content-Encoding")
		h.Del("ETag")
		http.Error(w, "系统繁忙，请稍后再试", http.StatusInternalServerError)
		return
	}
	if c, ok := content.(io.Closer); ok {
		defer c.Close()
	}
	if coding != "" {
		// ServeContent leaves Content-Length out when Content-Encoding is set
		// (for handlers that compress on the fly); ours is the stored size.
		// It replaces it for ranges and drops it for 304 and errors.
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	http.ServeContent(w, r, f.name, time.Time{}, content)
}

// openSeeker opens name in app as an io.ReadSeeker (embedded files are
// seekable; others are read into memory) with its size.
func openSeeker(app fs.FS, name string) (io.ReadSeeker, int64, error) {
	file, err := app.Open(name)
	if err != nil {
		return nil, 0, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, err
	}
	if rs, ok := file.(io.ReadSeeker); ok {
		return rs, st.Size(), nil // closed by the caller through io.Closer
	}
	defer file.Close()
	b, err := io.ReadAll(file)
	if err != nil {
		return nil, 0, err
	}
	return bytes.NewReader(b), int64(len(b)), nil
}

// negotiateEncoding chooses the content coding of a response among the
// available ones from the request's Accept-Encoding values (RFC 9110
// §12.5.3): the coding with the highest q-value, br before gzip on a tie,
// unless the header ranks identity (by name or "*") above it; "" means
// identity. Without the header, identity: a client that says nothing may
// not decode anything.
func negotiateEncoding(header []string, available map[string]string) string {
	if len(header) == 0 {
		return ""
	}
	q := map[string]float64{}
	for _, v := range header {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding == "" {
				continue
			}
			if coding == "x-gzip" {
				coding = "gzip"
			}
			weight := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && f >= 0 && f <= 1 {
						weight = f
					} else {
						weight = 0 // a malformed weight is no consent
					}
				}
			}
			if old, seen := q[coding]; !seen || weight > old {
				q[coding] = weight
			}
		}
	}
	weightOf := func(coding string) (float64, bool) {
		if w, ok := q[coding]; ok {
			return w, true
		}
		w, ok := q["*"]
		return w, ok
	}
	best, bestQ := "", 0.0
	for _, e := range appEncodings {
		if _, ok := available[e.coding]; !ok {
			continue
		}
		if w, _ := weightOf(e.coding); w > bestQ {
			best, bestQ = e.coding, w
		}
	}
	// Identity stays acceptable even when excluded (there is nothing else
	// to send, and a 406 helps nobody); it wins over an available coding
	// only when the client ranks it higher.
	if w, ranked := weightOf("identity"); best == "" || ranked && w > bestQ {
		return ""
	}
	return best
}
