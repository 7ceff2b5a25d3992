package pairing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"signet/audit"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/certificate"
	entseal "signet/ent/seal"
	"signet/errs"
	"signet/events"
	"signet/internal/dbtest"
	"signet/pairing"
	"signet/viewer"
)

type env struct {
	svc    *pairing.Service
	db     *ent.Client
	broker *events.Local
	clock  *clock
	users  map[string]viewer.Viewer
	certs  map[string]int
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func setup(t *testing.T, b dbtest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Open(t, b)
	e := &env{db: db.Client, broker: events.NewLocal(0, nil), clock: &clock{t: time.Now()},
		users: map[string]viewer.Viewer{}, certs: map[string]int{}}
	t.Cleanup(func() { e.broker.Close() })
	var err error
	e.svc, err = pairing.New(pairing.Config{DB: db.Client, Broker: e.broker, BaseURL: "https://sign.example.cn/",
		Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	sys := viewer.System(ctx)
	for name, phone := range map[string]string{"alice": "13800000001", "bob": "13800000002", "carol": "13800000003"} {
		u, err := db.Client.User.Create().SetPhone(phone).SetName(name).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		e.users[name] = viewer.Viewer{UserID: u.ID, Phone: phone}
		if name == "carol" { // carol is not real-name verified
			continue
		}
		c, err := db.Client.Certificate.Create().SetKind(certificate.KindPerson).SetUserID(u.ID).
			SetSubject("CN=" + name).SetSubjectID("p-" + name).Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		e.certs[name] = c.ID
		if err := db.Client.Seal.Create().SetUserID(u.ID).SetKind(entseal.KindPersonal).SetName(name).
			SetImage(signature(t, 200, 200)).SetWidth(200).SetHeight(200).SetSource(entseal.SourceGenerated).
			SetIsDefault(true).SetCertificateID(c.ID).Exec(sys); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) as(name string) context.Context {
	return viewer.NewContext(context.Background(), e.users[name])
}

func wantCode(t *testing.T, err error, code errs.Code, msg string) {
	t.Helper()
	if errs.CodeOf(err) != code || !strings.Contains(errs.MessageOf(err), msg) {
		t.Fatalf("error %v (%q), want %s containing %q", err, errs.MessageOf(err), code, msg)
	}
}

// signature draws a black diagonal on a transparent w×h PNG.
func signature(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w; i++ {
		y := i * h / w
		for d := -2; d <= 2; d++ {
			if y+d >= 0 && y+d < h {
				img.Set(i, y+d, color.Black)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func strokes(w, h int) []byte {
	s := pairing.Strokes{Width: float64(w), Height: float64(h)}
	var st []pairing.Point
	for i := 0; i <= 10; i++ {
		st = append(st, pairing.Point{X: float64(i * w / 10), Y: float64(i * h / 10), T: float64(i * 16)})
	}
	s.Strokes = [][]pairing.Point{st}
	b, _ := json.Marshal(s)
	return b
}

func tokenOf(t *testing.T, tk *pairing.Ticket) string {
	t.Helper()
	if !strings.HasPrefix(tk.URL, "https://sign.example.cn/p/") || !strings.HasSuffix(tk.URL, tk.Token) {
		t.Fatalf("capture URL %q", tk.URL)
	}
	return tk.Token
}

func TestPairing(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setup(t, b)
		alice, bob, carol := e.as("alice"), e.as("bob"), e.as("carol")
		anon := context.Background()
		sys := viewer.System(anon)

		if _, err := e.svc.Create(anon); errs.CodeOf(err) != errs.Unauthenticated {
			t.Fatalf("anonymous create: %v", err)
		}
		tk, err := e.svc.Create(alice)
		if err != nil {
			t.Fatal(err)
		}
		token := tokenOf(t, tk)
		// Only the hash is stored.
		if p, _ := e.db.PairingSession.Get(sys, tk.Session.ID); p == nil || strings.Contains(p.TokenHash, token) || len(p.TokenHash) != 64 {
			t.Fatalf("stored token: %+v", p)
		}
		if got := tk.Session.ExpiresAt.Sub(e.clock.now()); got != pairing.DefaultTTL {
			t.Fatalf("ttl %v", got)
		}

		// The QR code holds the capture URL.
		qr, err := e.svc.QR(anon, token, 256)
		if err != nil {
			t.Fatal(err)
		}
		checkQR(t, qr, tk.URL)

		in, err := e.svc.Info(anon, token)
		if err != nil || in.Status != pairing.StatusWaiting || in.OwnerName != "*lice" {
			t.Fatalf("info %+v %v", in, err)
		}
		if in, _ := e.svc.Info(anon, "nope"); in.Status != pairing.StatusInvalid || !strings.Contains(in.Message, "二维码无效") {
			t.Fatalf("unknown token: %+v", in)
		}

		// Foreign users cannot follow alice's pairing.
		if _, err := e.svc.Get(bob, tk.Session.ID); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("bob reads alice's pairing: %v", err)
		}
		if _, err := e.svc.Watch(bob, tk.Session.ID); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("bob watches alice's pairing: %v", err)
		}
		wctx, cancel := context.WithCancel(alice)
		defer cancel()
		updates, err := e.svc.Watch(wctx, tk.Session.ID)
		if err != nil {
			t.Fatal(err)
		}
		if v := <-updates; v.Status != pairing.StatusWaiting {
			t.Fatalf("first update %+v", v)
		}

		// Bad submissions leave the token usable.
		wantCode(t, submit(e, token, []byte("not a png"), strokes(400, 200)), errs.Invalid, "不是有效的PNG")
		wantCode(t, submit(e, token, signature(t, 20, 20), strokes(20, 20)), errs.Invalid, "尺寸")
		blank := func() []byte {
			var buf bytes.Buffer
			_ = png.Encode(&buf, image.NewNRGBA(image.Rect(0, 0, 400, 200)))
			return buf.Bytes()
		}()
		wantCode(t, submit(e, token, blank, strokes(400, 200)), errs.Invalid, "未检测到签名笔迹")
		wantCode(t, submit(e, token, bytes.Repeat([]byte{1}, pairing.MaxPNG+1), strokes(400, 200)), errs.Invalid, "过大")
		wantCode(t, submit(e, token, signature(t, 400, 200), strokes(800, 200)), errs.Invalid, "超出签名区域")
		wantCode(t, submit(e, token, signature(t, 400, 200), []byte(`{"strokes":[[{"x":1,"y":1,"t":5},{"x":2,"y":2,"t":3}]]}`)), errs.Invalid, "时间")
		wantCode(t, submit(e, token, signature(t, 400, 200), []byte(`[]`)), errs.Invalid, "格式")

		// Two phones submit at once: exactly one wins.
		var ok atomic.Int32
		var wg sync.WaitGroup
		errsSeen := make(chan error, 2)
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := submit(e, token, signature(t, 400, 200), strokes(400, 200))
				if err == nil {
					ok.Add(1)
				} else {
					errsSeen <- err
				}
			}()
		}
		wg.Wait()
		close(errsSeen)
		if ok.Load() != 1 {
			t.Fatalf("%d submissions accepted", ok.Load())
		}
		for err := range errsSeen {
			if c := errs.CodeOf(err); c != errs.Conflict && !strings.Contains(err.Error(), "lock") && !strings.Contains(err.Error(), "busy") {
				t.Fatalf("second submission: %v", err)
			}
		}

		// The PC hears about it.
		select {
		case v := <-updates:
			if v.Status != pairing.StatusCompleted || v.Seal == nil || v.Seal.Kind != entseal.KindHandwritten {
				t.Fatalf("completed update %+v", v)
			}
			if v.Seal.CertificateID == nil || *v.Seal.CertificateID != e.certs["alice"] || v.Seal.IsDefault {
				t.Fatalf("seal binding %+v", v.Seal)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no completed update")
		}

		// Reuse is refused everywhere.
		wantCode(t, submit(e, token, signature(t, 400, 200), strokes(400, 200)), errs.Conflict, "已使用")
		if in, _ := e.svc.Info(anon, token); in.Status != pairing.StatusCompleted || !strings.Contains(in.Message, "已使用") {
			t.Fatalf("used info %+v", in)
		}
		if _, err := e.svc.QR(anon, token, 0); errs.CodeOf(err) != errs.Conflict {
			t.Fatalf("QR of a used token: %v", err)
		}
		p, _ := e.db.PairingSession.Get(sys, tk.Session.ID)
		if p.SealID == nil || len(p.Strokes) == 0 {
			t.Fatalf("stroke data not kept: %+v", p)
		}
		if n, _ := e.db.AuditEvent.Query().Where(auditevent.Chain(audit.UserChain(e.users["alice"].UserID)),
			auditevent.Action(string(audit.HandwritingCaptured))).Count(sys); n != 1 {
			t.Fatalf("%d capture audit events", n)
		}

		// Expiry follows the clock.
		tk2, err := e.svc.Create(alice)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.add(pairing.DefaultTTL + time.Second)
		if in, _ := e.svc.Info(anon, tk2.Token); in.Status != pairing.StatusExpired || !strings.Contains(in.Message, "已过期") {
			t.Fatalf("expired info %+v", in)
		}
		wantCode(t, submit(e, tk2.Token, signature(t, 400, 200), strokes(400, 200)), errs.Forbidden, "已过期")
		if _, err := e.svc.QR(anon, tk2.Token, 0); errs.CodeOf(err) != errs.Forbidden {
			t.Fatalf("QR of an expired token: %v", err)
		}

		// Personal seals: alice's name seal (default) and her signature.
		seals, err := e.svc.PersonalSeals(alice)
		if err != nil || len(seals) != 2 || seals[0].Kind != entseal.KindPersonal || !seals[0].IsDefault {
			t.Fatalf("alice's seals %v %v", seals, err)
		}
		hw := seals[1]
		if _, err := e.svc.SetDefault(bob, hw.ID); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("bob sets alice's default: %v", err)
		}
		if err := e.svc.DeleteSeal(bob, hw.ID); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("bob deletes alice's seal: %v", err)
		}
		if bs, _ := e.svc.PersonalSeals(bob); len(bs) != 1 {
			t.Fatalf("bob sees %d seals", len(bs))
		}
		if _, err := e.svc.SetDefault(alice, hw.ID); err != nil {
			t.Fatal(err)
		}
		seals, _ = e.svc.PersonalSeals(alice)
		if seals[0].ID != hw.ID || !seals[0].IsDefault || seals[1].IsDefault {
			t.Fatalf("after set default: %v", seals)
		}
		wantCode(t, e.svc.DeleteSeal(alice, seals[1].ID), errs.Forbidden, "姓名章不能删除")
		if err := e.svc.DeleteSeal(alice, hw.ID); err != nil {
			t.Fatal(err)
		}
		seals, _ = e.svc.PersonalSeals(alice)
		if len(seals) != 1 || !seals[0].IsDefault || seals[0].Kind != entseal.KindPersonal {
			t.Fatalf("after delete: %v", seals)
		}
		wantCode(t, e.svc.DeleteSeal(alice, hw.ID), errs.NotFound, "印章不存在")

		// Carol is not real-name verified: her signature is kept, unbound,
		// and cannot be her default until she is.
		tk3, err := e.svc.Create(carol)
		if err != nil {
			t.Fatal(err)
		}
		if err := submit(e, tk3.Token, signature(t, 400, 200), strokes(400, 200)); err != nil {
			t.Fatal(err)
		}
		cs, _ := e.svc.PersonalSeals(carol)
		if len(cs) != 1 || cs[0].CertificateID != nil || cs[0].IsDefault {
			t.Fatalf("carol's seals %v", cs)
		}
		wantCode(t, func() error { _, err := e.svc.SetDefault(carol, cs[0].ID); return err }(), errs.Forbidden, "实名认证")
	})
}

func submit(e *env, token string, img, st []byte) error {
	_, err := e.svc.Submit(context.Background(), token, img, st)
	return err
}

// checkQR decodes the PNG with zbarimg (Debian zbar-tools) when installed.
func checkQR(t *testing.T, qr []byte, want string) {
	t.Helper()
	if _, err := png.Decode(bytes.NewReader(qr)); err != nil {
		t.Fatalf("QR is not a PNG: %v", err)
	}
	bin, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Log("zbarimg not installed (apt-get install zbar-tools): QR content not checked")
		return
	}
	f := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(f, qr, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--quiet", "--raw", f).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Fatalf("QR decodes to %q, want %q", got, want)
	}
}

func TestPairingLimitAndCleanup(t *testing.T) {
	e := setup(t, dbtest.SQLite(t))
	alice := e.as("alice")
	for i := 0; i < pairing.MaxRecent; i++ {
		if _, err := e.svc.Create(alice); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.svc.Create(alice)
	wantCode(t, err, errs.RateLimited, "过于频繁")
	if _, err := e.svc.Create(e.as("bob")); err != nil {
		t.Fatalf("bob is not limited by alice: %v", err)
	}
	// Once they expire, new codes can be made, and a day later the unused
	// ones are deleted.
	e.clock.add(pairing.DefaultTTL + 25*time.Hour)
	if _, err := e.svc.Create(alice); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.db.PairingSession.Query().Count(viewer.System(context.Background())); n != 2 {
		t.Fatalf("%d sessions after clean-up, want alice's new one and bob's", n)
	}
}
