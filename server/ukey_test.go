package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestUKeyHelperDownloads(t *testing.T) {
	dir := t.TempDir()
	r := chi.NewRouter()
	ukeyRoutes(r, dir, slog.New(slog.DiscardHandler))
	get := func(path string) (int, string, http.Header) {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(b), rec.Result().Header
	}

	// Nothing built: the list is empty and says so; a binary is a clear 404.
	code, body, _ := get("/downloads/signet-ukey")
	var list struct {
		Builds  []UKeyHelperBuild
		Message string
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list.Builds) != 0 || !strings.Contains(list.Message, "make ukey") {
		t.Fatalf("empty list: %d %s", code, body)
	}
	code, body, _ = get("/downloads/signet-ukey/linux-amd64")
	if code != 404 || !strings.Contains(body, "尚未构建") {
		t.Fatalf("missing build: %d %s", code, body)
	}

	// Built: listed and served as an attachment; other names are not served.
	if err := os.WriteFile(filepath.Join(dir, "signet-ukey-linux-amd64"), []byte("ELF…"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body, _ = get("/downloads/signet-ukey")
	list.Message = ""
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 || len(list.Builds) != 1 ||
		list.Builds[0].Platform != "linux-amd64" || list.Builds[0].URL != "/downloads/signet-ukey/linux-amd64" || list.Message != "" {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body, h := get("/downloads/signet-ukey/linux-amd64")
	if code != 200 || body != "ELF…" || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %q %v", code, body, h)
	}
	for _, p := range []string{"/downloads/signet-ukey/notes.txt", "/downloads/signet-ukey/..%2Fnotes.txt", "/downloads/signet-ukey/windows-amd64"} {
		if code, body, _ := get(p); code != 404 || strings.Contains(body, "secret") {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
}
