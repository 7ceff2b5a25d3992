package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// PairingQR is what the QR image endpoint needs from package pairing.
type PairingQR interface {
	// QR returns the PNG QR code of token's capture URL while the token is
	// valid; an expired, used or unknown token is an error.
	QR(ctx context.Context, token string, size int) ([]byte, error)
}

// pairingRoutes mounts
//
//	GET /files/pairing/{token}/qr.png[?size=256]   the QR code of {BaseURL}/p/{token}
//
// No login: the token in the path is the credential, and the image only
// repeats it. Never cached.
func pairingRoutes(r chi.Router, p PairingQR, log *slog.Logger) {
	r.Get("/files/pairing/{token}/qr.png", func(w http.ResponseWriter, req *http.Request) {
		size, _ := strconv.Atoi(req.URL.Query().Get("size"))
		png, err := p.QR(req.Context(), chi.URLParam(req, "token"), size)
		if err != nil {
			writeErrorLogged(w, req, err, log)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(png)))
		_, _ = w.Write(png)
	})
}
