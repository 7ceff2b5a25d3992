package graph

import (
	"encoding/base64"
	"net/url"
	"strings"

	"signet/errs"
	"signet/pairing"
)

func pairingStatus(s pairing.Status) PairingStatus {
	return PairingStatus(strings.ToUpper(string(s)))
}

func pairingOf(v *pairing.View) *Pairing {
	return &Pairing{ID: v.Session.ID, Status: pairingStatus(v.Status), ExpiresAt: v.Session.ExpiresAt, Seal: v.Seal}
}

func pairingTicket(t *pairing.Ticket) *PairingTicket {
	return &PairingTicket{
		Pairing:    &Pairing{ID: t.Session.ID, Status: PairingStatusWaiting, ExpiresAt: t.Session.ExpiresAt},
		Token:      t.Token,
		URL:        t.URL,
		QRImageURL: "/files/pairing/" + url.PathEscape(t.Token) + "/qr.png",
	}
}

func pairingInfo(in *pairing.Info) *PairingInfo {
	out := &PairingInfo{Status: pairingStatus(in.Status)}
	if in.Message != "" {
		out.Message = &in.Message
	}
	if !in.ExpiresAt.IsZero() {
		out.ExpiresAt = &in.ExpiresAt
	}
	if in.OwnerName != "" {
		out.OwnerName = &in.OwnerName
	}
	return out
}

// decodePNG accepts plain base64 or a data URL.
func decodePNG(s string) ([]byte, error) {
	if i := strings.Index(s, ","); i >= 0 && strings.HasPrefix(s, "data:") {
		s = s[i+1:]
	}
	if len(s) > (pairing.MaxPNG/3+1)*4+8 {
		return nil, errs.InvalidField("png", "签名图片过大（最大512KB），请清屏后重新书写")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errs.InvalidField("png", "签名图片不是有效的PNG图片")
	}
	return b, nil
}
