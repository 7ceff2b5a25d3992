package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"

	"signet/errs"
)

// ukeyHelperName is the file name prefix of the helper builds in the
// downloads folder: signet-ukey-<os>-<arch>, with .exe on Windows (make ukey
// writes them).
const ukeyHelperName = "signet-ukey-"

var ukeyPlatform = regexp.MustCompile(`^(linux|darwin|windows)-(amd64|arm64|386|loong64|mips64le)$`)

// UKeyHelperBuild is one downloadable build of the helper.
type UKeyHelperBuild struct {
	Platform string `json:"platform"`
	URL      string `json:"url"`
	Size     int64  `json:"size"`
}

// ukeyRoutes mounts the helper (证书应用环境) downloads:
//
//	GET /downloads/signet-ukey             {"builds":[{platform,url,size}],"message":…}
//	GET /downloads/signet-ukey/{platform}  the binary, e.g. linux-amd64
//
// The builds are whatever `make ukey` left in dir; a platform not built is
// answered 404 with a message saying so.
func ukeyRoutes(r chi.Router, dir string, log *slog.Logger) {
	r.Get("/downloads/signet-ukey", func(w http.ResponseWriter, req *http.Request) {
		builds := ukeyBuilds(dir)
		body := map[string]any{"builds": builds}
		if len(builds) == 0 {
			body["message"] = "证书应用环境尚未构建：请管理员在服务器上运行 make ukey"
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_ = json.NewEncoder(w).Encode(body)
	})
	r.Get("/downloads/signet-ukey/{platform}", func(w http.ResponseWriter, req *http.Request) {
		p := chi.URLParam(req, "platform")
		if !ukeyPlatform.MatchString(p) {
			writeErrorLogged(w, req, errs.New(errs.NotFound, "没有这个平台的证书应用环境"), log)
			return
		}
		name := ukeyHelperName + p
		if strings.HasPrefix(p, "windows-") {
			name += ".exe"
		}
		path := filepath.Join(dir, name)
		if st, err := os.Stat(path); dir == "" || err != nil || !st.Mode().IsRegular() {
			writeErrorLogged(w, req, errs.New(errs.NotFound, "证书应用环境的 "+p+" 版本尚未构建：请管理员在服务器上运行 make ukey"), log)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFile(w, req, path)
	})
}

// ukeyBuilds lists the helper builds in dir.
func ukeyBuilds(dir string) []UKeyHelperBuild {
	out := []UKeyHelperBuild{}
	if dir == "" {
		return out
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		p, ok := strings.CutPrefix(strings.TrimSuffix(e.Name(), ".exe"), ukeyHelperName)
		if !ok || !ukeyPlatform.MatchString(p) || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, UKeyHelperBuild{Platform: p, URL: "/downloads/signet-ukey/" + p, Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Platform < out[j].Platform })
	return out
}
