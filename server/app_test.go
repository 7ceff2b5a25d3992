package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testApp is a built client in miniature: index.html and a hashed script
// with .gz and .br copies (the brotli bytes are a stand-in: the server only
// passes them on), a stylesheet with only a .gz, and a small icon without any.
func testApp(t *testing.T) (fstest.MapFS, map[string][]byte) {
	t.Helper()
	index := []byte(`<!doctype html><html><body><div id="app">` + strings.Repeat("<p>正在加载合同…</p>", 50) + `</div></body></html>`)
	js := []byte(strings.Repeat("export const signet = 'Signet';\n", 200))
	css := []byte(strings.Repeat(".van-button{color:red}\n", 100))
	want := map[string][]byte{
		"index.html":             index,
		"index.html.gz":          gzipBytes(t, index),
		"index.html.br":          []byte("br:index"),
		"assets/app-Ab12.js":     js,
		"assets/app-Ab12.js.gz":  gzipBytes(t, js),
		"assets/app-Ab12.js.br":  []byte("br:app"),
		"assets/app-Cd34.css":    css,
		"assets/app-Cd34.css.gz": gzipBytes(t, css),
		"favicon.svg":            []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`),
		"assets/release.txt.gz":  []byte("a real gzip download, not a copy"),
	}
	app := fstest.MapFS{}
	for name, b := range want {
		app[name] = &fstest.MapFile{Data: b}
	}
	return app, want
}

type appResponse struct {
	code   int
	header http.Header
	body   []byte
}

func appGet(h http.Handler, method, target string, header map[string]string) appResponse {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	return appResponse{code: res.StatusCode, header: res.Header, body: body}
}

func TestAppCompression(t *testing.T) {
	app, files := testApp(t)
	h := appHandler(app)

	tests := []struct {
		name, path, acceptEncoding string
		wantEncoding               string // "" identity
		wantFile                   string // the stored bytes sent
	}{
		{"no Accept-Encoding", "/assets/app-Ab12.js", "", "", "assets/app-Ab12.js"},
		{"gzip only", "/assets/app-Ab12.js", "gzip, deflate", "gzip", "assets/app-Ab12.js.gz"},
		{"br preferred on a tie", "/assets/app-Ab12.js", "gzip, deflate, br, zstd", "br", "assets/app-Ab12.js.br"},
		{"q-values rank", "/assets/app-Ab12.js", "br;q=0.5, gzip;q=0.8", "gzip", "assets/app-Ab12.js.gz"},
		{"br refused", "/assets/app-Ab12.js", "br;q=0, gzip", "gzip", "assets/app-Ab12.js.gz"},
		{"gzip refused", "/assets/app-Ab12.js", "gzip;q=0", "", "assets/app-Ab12.js"},
		{"case and x-gzip", "/assets/app-Ab12.js", "X-GZIP", "gzip", "assets/app-Ab12.js.gz"},
		{"star", "/assets/app-Ab12.js", "*", "br", "assets/app-Ab12.js.br"},
		{"identity ranked first", "/assets/app-Ab12.js", "identity, gzip;q=0.5", "", "assets/app-Ab12.js"},
		{"identity refused still served", "/assets/app-Ab12.js", "identity;q=0, deflate", "", "assets/app-Ab12.js"},
		{"malformed weight is no consent", "/assets/app-Ab12.js", "br;q=high, gzip", "gzip", "assets/app-Ab12.js.gz"},
		{"only a gzip copy", "/assets/app-Cd34.css", "br, gzip", "gzip", "assets/app-Cd34.css.gz"},
		{"no copies", "/favicon.svg", "br, gzip", "", "favicon.svg"},
		{"index", "/", "gzip, br", "br", "index.html.br"},
		{"SPA route gets index.html", "/s/Ab3xY9", "gzip", "gzip", "index.html.gz"},
		{"SPA route, identity", "/s/Ab3xY9", "", "", "index.html"},
		{"a .gz that is no copy is a file", "/assets/release.txt.gz", "gzip", "", "assets/release.txt.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := appGet(h, http.MethodGet, tt.path, map[string]string{"Accept-Encoding": tt.acceptEncoding})
			if res.code != http.StatusOK {
				t.Fatalf("status %d, want 200", res.code)
			}
			if got := res.header.Get("Content-Encoding"); got != tt.wantEncoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.wantEncoding)
			}
			if !bytes.Equal(res.body, files[tt.wantFile]) {
				t.Errorf("body is not %s: %q", tt.wantFile, res.body)
			}
			if got, want := res.header.Get("Content-Length"), strconv.Itoa(len(files[tt.wantFile])); got != want {
				t.Errorf("Content-Length %q, want %s", got, want)
			}
			hasCopies := tt.path != "/favicon.svg" && tt.path != "/assets/release.txt.gz"
			if got := res.header.Get("Vary"); hasCopies && got != "Accept-Encoding" || !hasCopies && got != "" {
				t.Errorf("Vary %q (file with copies: %v)", got, hasCopies)
			}
			etag := res.header.Get("ETag")
			if !strings.HasPrefix(etag, `"`) || tt.wantEncoding != "" && !strings.HasSuffix(etag, `-`+tt.wantEncoding+`"`) {
				t.Errorf("ETag %s for coding %q", etag, tt.wantEncoding)
			}
		})
	}

	// Content types come from the original name, never from the copy's.
	for path, want := range map[string]string{"/assets/app-Ab12.js": "text/javascript", "/assets/app-Cd34.css": "text/css", "/s/x": "text/html", "/favicon.svg": "image/svg+xml"} {
		res := appGet(h, http.MethodGet, path, map[string]string{"Accept-Encoding": "gzip"})
		if got := res.header.Get("Content-Type"); !strings.HasPrefix(got, want) {
			t.Errorf("%s: Content-Type %q, want %s", path, got, want)
		}
	}

	// The gzip copy decodes to the file.
	res := appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"Accept-Encoding": "gzip"})
	zr, err := gzip.NewReader(bytes.NewReader(res.body))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(zr); !bytes.Equal(got, files["assets/app-Ab12.js"]) {
		t.Error("the gzip copy does not decode to the script")
	}
}

func TestAppCaching(t *testing.T) {
	app, files := testApp(t)
	h := appHandler(app)

	// Hashed assets: a year, immutable; everything else revalidates.
	for path, want := range map[string]string{
		"/assets/app-Ab12.js": "public, max-age=31536000, immutable",
		"/":                   "no-cache",
		"/s/Ab3xY9":           "no-cache",
		"/favicon.svg":        "no-cache",
	} {
		if got := appGet(h, http.MethodGet, path, nil).header.Get("Cache-Control"); got != want {
			t.Errorf("%s: Cache-Control %q, want %q", path, got, want)
		}
	}

	// Each representation has its own ETag; a matching one gives 304 with no
	// body and no Content-Encoding; another representation's does not match.
	gz := appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"Accept-Encoding": "gzip"})
	plain := appGet(h, http.MethodGet, "/assets/app-Ab12.js", nil)
	if gz.header.Get("ETag") == plain.header.Get("ETag") {
		t.Fatalf("gzip and identity share the ETag %s", gz.header.Get("ETag"))
	}
	res := appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": gz.header.Get("ETag")})
	if res.code != http.StatusNotModified || len(res.body) != 0 || res.header.Get("Content-Encoding") != "" ||
		res.header.Get("ETag") != gz.header.Get("ETag") || res.header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("If-None-Match of the gzip copy: %d %v %q", res.code, res.header, res.body)
	}
	res = appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"If-None-Match": gz.header.Get("ETag")})
	if res.code != http.StatusOK || !bytes.Equal(res.body, files["assets/app-Ab12.js"]) {
		t.Errorf("the gzip ETag from a client without gzip: %d", res.code)
	}
	// index.html under an SPA route revalidates against index.html's ETag.
	idx := appGet(h, http.MethodGet, "/", map[string]string{"Accept-Encoding": "br"})
	if res := appGet(h, http.MethodGet, "/s/Ab3xY9", map[string]string{"Accept-Encoding": "br", "If-None-Match": idx.header.Get("ETag")}); res.code != http.StatusNotModified {
		t.Errorf("SPA route with index.html's ETag: %d", res.code)
	}
}

func TestAppHeadAndRanges(t *testing.T) {
	app, files := testApp(t)
	h := appHandler(app)

	// HEAD: the headers of the chosen representation, no body.
	res := appGet(h, http.MethodHead, "/assets/app-Ab12.js", map[string]string{"Accept-Encoding": "gzip"})
	if res.code != http.StatusOK || len(res.body) != 0 || res.header.Get("Content-Encoding") != "gzip" ||
		res.header.Get("Content-Length") != strconv.Itoa(len(files["assets/app-Ab12.js.gz"])) {
		t.Errorf("HEAD: %d %v (%d body bytes)", res.code, res.header, len(res.body))
	}

	// Ranges apply to the representation sent: the encoded bytes when encoded.
	res = appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
	gz := files["assets/app-Ab12.js.gz"]
	if res.code != http.StatusPartialContent || !bytes.Equal(res.body, gz[:10]) || res.header.Get("Content-Encoding") != "gzip" ||
		res.header.Get("Content-Range") != "bytes 0-9/"+strconv.Itoa(len(gz)) || res.header.Get("Content-Length") != "10" {
		t.Errorf("gzip range: %d %v %q", res.code, res.header, res.body)
	}
	res = appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"Range": "bytes=7-12"})
	if res.code != http.StatusPartialContent || !bytes.Equal(res.body, files["assets/app-Ab12.js"][7:13]) {
		t.Errorf("identity range: %d %q", res.code, res.body)
	}
	// If-Range with another representation's ETag: the whole file.
	plain := appGet(h, http.MethodGet, "/assets/app-Ab12.js", nil)
	res = appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=0-9", "If-Range": plain.header.Get("ETag")})
	if res.code != http.StatusOK || !bytes.Equal(res.body, gz) {
		t.Errorf("If-Range of the identity ETag on the gzip copy: %d", res.code)
	}
	// An unsatisfiable range: 416 without the success headers.
	res = appGet(h, http.MethodGet, "/assets/app-Ab12.js", map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=99999-"})
	if res.code != http.StatusRequestedRangeNotSatisfiable || res.header.Get("Content-Encoding") != "" || res.header.Get("ETag") != "" {
		t.Errorf("unsatisfiable range: %d %v", res.code, res.header)
	}
}

func TestAppNotFoundAndMethods(t *testing.T) {
	app, _ := testApp(t)
	h := appHandler(app)
	for _, path := range []string{
		"/assets/missing-Zz99.js",
		"/assets/app-Ab12.js.gz", // copies are not files of their own
		"/assets/app-Ab12.js.br",
		"/index.html.gz",
	} {
		if res := appGet(h, http.MethodGet, path, map[string]string{"Accept-Encoding": "gzip, br"}); res.code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, res.code)
		}
	}
	if res := appGet(h, http.MethodPost, "/s/Ab3xY9", nil); res.code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.code)
	}

	// Not built: the SPA routes say how to build.
	for _, empty := range []fstest.MapFS{{}, {".gitkeep": &fstest.MapFile{}}} {
		res := appGet(appHandler(empty), http.MethodGet, "/s/Ab3xY9", map[string]string{"Accept-Encoding": "gzip"})
		if res.code != http.StatusNotFound || !strings.Contains(string(res.body), "make run") {
			t.Errorf("not built: %d %q", res.code, res.body)
		}
	}
	if res := appGet(appHandler(nil), http.MethodGet, "/", nil); res.code != http.StatusNotFound {
		t.Errorf("nil FS: %d", res.code)
	}
}
