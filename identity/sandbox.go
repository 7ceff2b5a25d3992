package identity

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Sandbox is the development and test stand-in for the identity providers
// (carrier three-element, bank four-element, face liveness). It behaves like
// the real services, including their failures; its test identities are
// documented in docs/sandbox.md:
//
//   - a name containing 不符 does not match its ID number (every method);
//   - a name containing 超时 times out after Sandbox.Delay;
//   - a name containing 故障 finds the service down;
//   - three elements: a phone ending in 0000 is not registered to the person;
//   - four elements: a card starting 621700 belongs to someone else;
//   - face: the page at RedirectURL lets the tester pass or fail the
//     liveness check; a session left for 10 minutes fails.
//
// Everything else matches. It keeps face sessions in memory, like a remote
// service the platform cannot see into.
type Sandbox struct {
	// BaseURL is the server's public URL; face pages are under
	// BaseURL + "/sandbox/face/".
	BaseURL string
	// Delay is how long a timing-out check takes (default 50 ms).
	Delay time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Notify is called when a face session ends, as the real provider POSTs
	// to the callback URL. It must not block for long.
	Notify func(ctx context.Context, sessionID string)

	mu       sync.Mutex
	sessions map[string]*sandboxFace
}

type sandboxFace struct {
	req       FaceRequest
	expiresAt time.Time
	result    FaceResult
}

// ErrUnavailable is returned by the sandbox for an outage or a timeout.
var ErrUnavailable = errors.New("identity provider unavailable")

func (s *Sandbox) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sandbox) trouble(ctx context.Context, p Person) error {
	switch {
	case strings.Contains(p.Name, "超时"):
		d := s.Delay
		if d == 0 {
			d = 50 * time.Millisecond
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		return fmt.Errorf("%w: request timed out", ErrUnavailable)
	case strings.Contains(p.Name, "故障"):
		return fmt.Errorf("%w: 503 service unavailable", ErrUnavailable)
	}
	return nil
}

// CheckThree implements ElementChecker.
func (s *Sandbox) CheckThree(ctx context.Context, p Person) (CheckResult, error) {
	if err := s.trouble(ctx, p); err != nil {
		return CheckResult{}, err
	}
	r := CheckResult{TxnID: "SBX-3E-" + randHex(8), Match: true}
	switch {
	case strings.Contains(p.Name, "不符"):
		r.Match, r.Reason = false, "姓名与身份证号不一致"
	case strings.HasSuffix(p.Phone, "0000"):
		r.Match, r.Reason = false, "手机号不是本人实名登记的号码"
	}
	return r, nil
}

// CheckFour implements ElementChecker.
func (s *Sandbox) CheckFour(ctx context.Context, p Person, card string) (CheckResult, error) {
	if err := s.trouble(ctx, p); err != nil {
		return CheckResult{}, err
	}
	r := CheckResult{TxnID: "SBX-4E-" + randHex(8), Match: true}
	switch {
	case strings.Contains(p.Name, "不符"):
		r.Match, r.Reason = false, "姓名与身份证号不一致"
	case strings.HasPrefix(card, "621700"):
		r.Match, r.Reason = false, "银行卡与身份信息不一致"
	}
	return r, nil
}

// StartLiveness implements FaceProvider.
func (s *Sandbox) StartLiveness(ctx context.Context, req FaceRequest) (FaceSession, error) {
	if err := s.trouble(ctx, req.Person); err != nil {
		return FaceSession{}, err
	}
	id := "SBX-FACE-" + randHex(10)
	exp := s.now().Add(10 * time.Minute)
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = map[string]*sandboxFace{}
	}
	s.sessions[id] = &sandboxFace{req: req, expiresAt: exp, result: FaceResult{Status: FacePending, TxnID: id}}
	s.mu.Unlock()
	return FaceSession{ID: id, RedirectURL: strings.TrimRight(s.BaseURL, "/") + "/sandbox/face/" + id, ExpiresAt: exp}, nil
}

// Result implements FaceProvider.
func (s *Sandbox) Result(ctx context.Context, id string) (FaceResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.sessions[id]
	if !ok {
		return FaceResult{}, fmt.Errorf("face session %s: unknown", id)
	}
	if f.result.Status == FacePending && !s.now().Before(f.expiresAt) {
		f.result = FaceResult{Status: FaceFailed, TxnID: id, Reason: "人脸识别超时未完成"}
	}
	return f.result, nil
}

// Complete ends a face session as the person would on the provider's page:
// pass or fail the liveness check. A name containing 不符 fails the
// comparison with the ID photo even when the liveness passes. It returns the
// URL the browser goes back to.
func (s *Sandbox) Complete(ctx context.Context, id string, pass bool) (string, error) {
	s.mu.Lock()
	f, ok := s.sessions[id]
	if !ok {
		s.mu.Unlock()
		return "", fmt.Errorf("face session %s: unknown", id)
	}
	if f.result.Status == FacePending {
		switch {
		case !s.now().Before(f.expiresAt):
			f.result = FaceResult{Status: FaceFailed, TxnID: id, Reason: "人脸识别超时未完成"}
		case !pass:
			f.result = FaceResult{Status: FaceFailed, TxnID: id, Reason: "活体检测未通过"}
		case strings.Contains(f.req.Name, "不符"):
			f.result = FaceResult{Status: FaceFailed, TxnID: id, Score: 31, Reason: "人脸与身份证照片不一致"}
		default:
			f.result = FaceResult{Status: FacePassed, TxnID: id, Score: 92}
		}
	}
	ret := f.req.ReturnURL
	s.mu.Unlock()
	if s.Notify != nil {
		s.Notify(context.WithoutCancel(ctx), id)
	}
	return ret, nil
}

var facePage = template.Must(template.New("face").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>人脸识别（沙箱）</title></head><body style="font-family:sans-serif;padding:24px">
<h2>人脸识别（沙箱）</h2><p>正在为 <b>{{.Name}}</b> 进行活体检测。这是开发环境的模拟页面，不采集任何图像。</p>
<form method="post" action="{{.ID}}/complete"><input type="hidden" name="outcome" value="pass"><button>完成活体检测（通过）</button></form>
<form method="post" action="{{.ID}}/complete" style="margin-top:12px"><input type="hidden" name="outcome" value="fail"><button>模拟检测失败</button></form>
</body></html>`))

// Handler serves the sandbox face pages under /sandbox/face/{id} (GET shows
// the page, POST or GET {id}/complete?outcome=pass|fail ends the session and
// redirects to the return URL).
func (s *Sandbox) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/sandbox/face/")
		id, action, _ := strings.Cut(rest, "/")
		s.mu.Lock()
		f, ok := s.sessions[id]
		var name string
		if ok {
			name = f.req.Name
		}
		s.mu.Unlock()
		if !ok {
			http.Error(w, "未找到人脸识别会话", http.StatusNotFound)
			return
		}
		if action == "complete" {
			ret, err := s.Complete(r.Context(), id, r.FormValue("outcome") != "fail")
			if err != nil {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			if ret == "" {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = w.Write([]byte("人脸识别已完成，请返回签网。"))
				return
			}
			http.Redirect(w, r, ret, http.StatusSeeOther)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = facePage.Execute(w, map[string]string{"Name": name, "ID": id})
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}
