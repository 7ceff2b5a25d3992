package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"signet/errs"
)

// failingStore is an OutboxStore whose every call fails.
type failingStore struct{ err error }

func (s failingStore) Save(context.Context, OutboxMessage) error { return s.err }
func (s failingStore) List(context.Context, string, int) ([]OutboxMessage, error) {
	return nil, s.err
}

func TestOutboxSendSavesAndLogs(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryOutboxStore(10)
	var logs bytes.Buffer
	o := NewOutbox(store, slog.New(slog.NewJSONHandler(&logs, nil)))
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	o.now = func() time.Time { return at }

	params := map[string]string{"code": "246810"}
	if err := o.Send(ctx, Message{Phone: "13800138000", Template: TemplateRegister, Params: params}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	params["code"] = "999999" // the caller's map is not kept

	got, err := store.List(ctx, "13800138000", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("List returned %d messages, want 1", len(got))
	}
	m := got[0]
	wantText := "【签网】您的注册验证码为246810，5分钟内有效，请勿泄露给他人。"
	if m.Phone != "13800138000" || m.Template != TemplateRegister || m.Params["code"] != "246810" || m.Text != wantText {
		t.Errorf("saved %+v, want phone 13800138000, template register, code 246810, text %q", m, wantText)
	}
	if !m.CreatedAt.Equal(at) || m.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", m.CreatedAt, at)
	}
	if len(m.ID) != 24 {
		t.Errorf("ID = %q, want 24 hex characters", m.ID)
	}

	var entry map[string]any
	if err := json.Unmarshal(logs.Bytes(), &entry); err != nil {
		t.Fatalf("log is not one JSON line: %q: %v", logs.String(), err)
	}
	for k, want := range map[string]string{"id": m.ID, "phone": "13800138000", "template": "register", "text": wantText} {
		if entry[k] != want {
			t.Errorf("log %s = %v, want %q", k, entry[k], want)
		}
	}
}

func TestOutboxSendWithSignName(t *testing.T) {
	store := NewMemoryOutboxStore(10)
	o := NewOutbox(store, nil).WithSignName("Signet")
	if err := o.Send(context.Background(), Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "111111"}}); err != nil {
		t.Fatal(err)
	}
	got, _ := store.List(context.Background(), "", 1)
	if len(got) != 1 || !strings.HasPrefix(got[0].Text, "【Signet】") {
		t.Errorf("saved %+v, want text signed 【Signet】", got)
	}
}

func TestOutboxSendErrors(t *testing.T) {
	storeErr := errors.New("disk full")
	tests := []struct {
		name     string
		store    OutboxStore
		msg      Message
		wantCode errs.Code
		wantMsg  string
	}{
		{
			name:     "bad phone",
			store:    NewMemoryOutboxStore(10),
			msg:      Message{Phone: "+8613800138000", Template: TemplateLogin, Params: map[string]string{"code": "123456"}},
			wantCode: errs.Invalid,
			wantMsg:  "手机号码格式不正确",
		},
		{
			name:     "missing parameter",
			store:    NewMemoryOutboxStore(10),
			msg:      Message{Phone: "13800138000", Template: TemplateSignIntent, Params: map[string]string{"code": "123456"}},
			wantCode: errs.Internal,
			wantMsg:  "系统繁忙，请稍后再试", // internal messages are never shown
		},
		{
			name:     "store fails",
			store:    failingStore{storeErr},
			msg:      Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "123456"}},
			wantCode: errs.Internal,
			wantMsg:  "系统繁忙，请稍后再试",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			err := NewOutbox(tt.store, slog.New(slog.NewTextHandler(&logs, nil))).Send(context.Background(), tt.msg)
			if got := errs.CodeOf(err); got != tt.wantCode {
				t.Fatalf("Send error %v has code %q, want %q", err, got, tt.wantCode)
			}
			if got := errs.MessageOf(err); got != tt.wantMsg {
				t.Errorf("message %q, want %q", got, tt.wantMsg)
			}
			if logs.Len() != 0 {
				t.Errorf("a failed send was logged as kept: %s", logs.String())
			}
			if mem, ok := tt.store.(*MemoryOutboxStore); ok {
				if got, _ := mem.List(context.Background(), "", 10); len(got) != 0 {
					t.Errorf("a failed send was saved: %+v", got)
				}
			}
		})
	}
	err := NewOutbox(failingStore{storeErr}, nil).Send(context.Background(),
		Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "123456"}})
	if !errors.Is(err, storeErr) {
		t.Errorf("Send error %v does not wrap the store's error", err)
	}
}

func TestMemoryOutboxStoreList(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryOutboxStore(4)
	// Six messages into a store of four: m0 and m1 are forgotten.
	for i := range 6 {
		phone := "13800000001"
		if i%2 == 1 {
			phone = "13900000002"
		}
		if err := store.Save(ctx, OutboxMessage{ID: fmt.Sprintf("m%d", i), Phone: phone}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		phone string
		limit int
		want  []string
	}{
		{"", 10, []string{"m5", "m4", "m3", "m2"}},
		{"", 2, []string{"m5", "m4"}},
		{"13800000001", 10, []string{"m4", "m2"}},
		{"13900000002", 10, []string{"m5", "m3"}},
		{"13900000002", 1, []string{"m5"}},
		{"13700000000", 10, []string{}},
	}
	for _, tt := range tests {
		got, err := store.List(ctx, tt.phone, tt.limit)
		if err != nil {
			t.Fatalf("List(%q, %d): %v", tt.phone, tt.limit, err)
		}
		ids := []string{}
		for _, m := range got {
			ids = append(ids, m.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
			t.Errorf("List(%q, %d) = %v, want %v", tt.phone, tt.limit, ids, tt.want)
		}
	}
	if _, err := store.List(ctx, "", 0); err == nil {
		t.Error("List with limit 0 succeeded, want an error")
	}
	if cap(store.msgs) > 8 {
		t.Errorf("backing array grew to %d for a capacity of 4", cap(store.msgs))
	}
}

func TestMemoryOutboxStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryOutboxStore(50)
	o := NewOutbox(store, nil)
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			for i := 0; i < 25 && err == nil; i++ {
				err = o.Send(ctx, Message{Phone: fmt.Sprintf("1380000000%d", g), Template: TemplateLogin, Params: map[string]string{"code": "123456"}})
				if err == nil {
					_, err = store.List(ctx, "", 5)
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := store.List(ctx, "", 1000); len(got) != 50 {
		t.Errorf("store holds %d messages, want its capacity 50", len(got))
	}
}

func TestOutboxHandler(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryOutboxStore(100)
	o := NewOutbox(store, nil)
	clock := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	o.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	for _, code := range []string{"111111", "222222", "333333"} {
		if err := o.Send(ctx, Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": code}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Send(ctx, Message{Phone: "13900139000", Template: TemplateLogin, Params: map[string]string{"code": "444444"}}); err != nil {
		t.Fatal(err)
	}

	type errorBody struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	tests := []struct {
		name       string
		method     string
		query      string
		store      OutboxStore
		wantStatus int
		wantCodes  []string // message codes, newest first, for 200
		wantErr    string   // error code for non-200
		wantField  string
	}{
		{"newest first", "GET", "?phone=13800138000", store, 200, []string{"333333", "222222", "111111"}, "", ""},
		{"limit", "GET", "?phone=13800138000&limit=2", store, 200, []string{"333333", "222222"}, "", ""},
		{"other phone", "GET", "?phone=13900139000", store, 200, []string{"444444"}, "", ""},
		{"no messages is an empty list", "GET", "?phone=13700137000", store, 200, []string{}, "", ""},
		{"phone missing", "GET", "", store, 400, nil, "INVALID_ARGUMENT", "phone"},
		{"phone invalid", "GET", "?phone=138001", store, 400, nil, "INVALID_ARGUMENT", "phone"},
		{"limit not a number", "GET", "?phone=13800138000&limit=x", store, 400, nil, "INVALID_ARGUMENT", "limit"},
		{"limit too large", "GET", "?phone=13800138000&limit=101", store, 400, nil, "INVALID_ARGUMENT", "limit"},
		{"POST refused", "POST", "?phone=13800138000", store, 405, nil, "INVALID_ARGUMENT", ""},
		{"store fails", "GET", "?phone=13800138000", failingStore{errors.New("db down")}, 500, nil, "INTERNAL", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			OutboxHandler(tt.store).ServeHTTP(rec, httptest.NewRequest(tt.method, "/dev/outbox"+tt.query, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q, want JSON", ct)
			}
			if tt.wantStatus != http.StatusOK {
				var body errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
					t.Fatalf("body %q is not JSON: %v", rec.Body, err)
				}
				if body.Error.Code != tt.wantErr || body.Error.Field != tt.wantField || body.Error.Message == "" {
					t.Errorf("error %+v, want code %q field %q and a message", body.Error, tt.wantErr, tt.wantField)
				}
				if strings.Contains(rec.Body.String(), "db down") {
					t.Errorf("internal detail leaked: %s", rec.Body)
				}
				return
			}
			if strings.Contains(rec.Body.String(), `"messages":null`) {
				t.Errorf("empty list encoded as null: %s", rec.Body)
			}
			var body struct{ Messages []OutboxMessage }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", rec.Body, err)
			}
			codes := []string{}
			for _, m := range body.Messages {
				codes = append(codes, m.Params["code"])
				if m.Text == "" || m.ID == "" || m.CreatedAt.IsZero() {
					t.Errorf("message %+v lacks text, id or time", m)
				}
			}
			if fmt.Sprint(codes) != fmt.Sprint(tt.wantCodes) {
				t.Errorf("codes %v, want %v", codes, tt.wantCodes)
			}
		})
	}
}

// countingStore is a BatchOutboxStore that records its calls and fails
// SaveAll with err when set.
type countingStore struct {
	*MemoryOutboxStore
	saves, saveAlls int
	err             error
}

func (s *countingStore) Save(ctx context.Context, m OutboxMessage) error {
	s.saves++
	return s.MemoryOutboxStore.Save(ctx, m)
}

func (s *countingStore) SaveAll(ctx context.Context, ms []OutboxMessage) error {
	s.saveAlls++
	if s.err != nil {
		return s.err
	}
	return s.MemoryOutboxStore.SaveAll(ctx, ms)
}

// TestOutboxSendBatch: the messages that pass are saved with one SaveAll and
// logged; a bad one gets Send's refusal without holding back the others; a
// failing SaveAll fails every message it held, and saves none.
func TestOutboxSendBatch(t *testing.T) {
	ctx := context.Background()
	link := func(phone, contract string) Message {
		return Message{Phone: phone, Template: TemplateSignLink,
			Params: map[string]string{"sender": "张三", "contract": contract, "link": "https://sign.example.com/s/abc"}}
	}
	ms := []Message{
		link("13800138001", "合同一"),
		link("+8613800138002", "合同二"), // bad phone
		link("13800138003", "合同三"),
		{Phone: "13800138004", Template: TemplateSignLink, Params: map[string]string{"sender": "张三"}}, // missing parameters
	}

	store := &countingStore{MemoryOutboxStore: NewMemoryOutboxStore(10)}
	var logs bytes.Buffer
	got := NewOutbox(store, slog.New(slog.NewJSONHandler(&logs, nil))).SendBatch(ctx, ms)
	if len(got) != len(ms) {
		t.Fatalf("%d outcomes for %d messages", len(got), len(ms))
	}
	if got[0] != nil || got[2] != nil {
		t.Errorf("good messages refused: %v, %v", got[0], got[2])
	}
	if errs.CodeOf(got[1]) != errs.Invalid || errs.MessageOf(got[1]) != "手机号码格式不正确" {
		t.Errorf("bad phone: %v (%s)", got[1], errs.MessageOf(got[1]))
	}
	if errs.CodeOf(got[3]) != errs.Internal {
		t.Errorf("missing parameters: %v", got[3])
	}
	if store.saveAlls != 1 || store.saves != 0 {
		t.Errorf("SaveAll %d, Save %d times; want SaveAll once", store.saveAlls, store.saves)
	}
	kept, _ := store.List(ctx, "", 10)
	if len(kept) != 2 || kept[1].Params["contract"] != "合同一" || kept[0].Params["contract"] != "合同三" ||
		kept[0].Text != "【签网】张三邀请您签署《合同三》，请打开 https://sign.example.com/s/abc 查看并签署。" {
		t.Errorf("kept %+v; want 合同一 then 合同三", kept)
	}
	if n := strings.Count(logs.String(), "kept in outbox"); n != 2 {
		t.Errorf("%d messages logged as kept, want 2:\n%s", n, logs.String())
	}

	// The store fails: every message it was given fails, none is kept.
	storeErr := errors.New("disk full")
	failing := &countingStore{MemoryOutboxStore: NewMemoryOutboxStore(10), err: storeErr}
	got = NewOutbox(failing, nil).SendBatch(ctx, ms)
	for _, i := range []int{0, 2} {
		if errs.CodeOf(got[i]) != errs.Internal || !errors.Is(got[i], storeErr) {
			t.Errorf("message %d with a failing store: %v", i, got[i])
		}
	}
	if errs.CodeOf(got[1]) != errs.Invalid {
		t.Errorf("bad phone with a failing store: %v", got[1])
	}
	if kept, _ := failing.List(ctx, "", 10); len(kept) != 0 {
		t.Errorf("kept %+v with a failing store", kept)
	}

	// A store without SaveAll saves one by one.
	plain := failingStore{storeErr}
	got = NewOutbox(plain, nil).SendBatch(ctx, ms[:1])
	if !errors.Is(got[0], storeErr) {
		t.Errorf("plain store: %v", got[0])
	}
}

// plainProvider is a Provider without SendBatch.
type plainProvider struct{ sent []Message }

func (p *plainProvider) Send(_ context.Context, m Message) error {
	if m.Phone == "" {
		return errs.InvalidField("phone", "手机号码格式不正确")
	}
	p.sent = append(p.sent, m)
	return nil
}

// TestSendAll: a BatchProvider gets one call; another provider one Send per
// message, each outcome in its place.
func TestSendAll(t *testing.T) {
	ctx := context.Background()
	ms := []Message{{Phone: "13800138001"}, {Phone: ""}, {Phone: "13800138003"}}
	p := &plainProvider{}
	got := SendAll(ctx, p, ms)
	if got[0] != nil || got[2] != nil || errs.CodeOf(got[1]) != errs.Invalid || len(p.sent) != 2 {
		t.Errorf("one by one: %v, sent %d", got, len(p.sent))
	}

	store := &countingStore{MemoryOutboxStore: NewMemoryOutboxStore(10)}
	login := func(phone string) Message {
		return Message{Phone: phone, Template: TemplateLogin, Params: map[string]string{"code": "123456"}}
	}
	got = SendAll(ctx, NewOutbox(store, nil), []Message{login("13800138001"), login("13800138002")})
	if got[0] != nil || got[1] != nil || store.saveAlls != 1 || store.Saved() != 2 {
		t.Errorf("batch: %v, SaveAll %d, saved %d", got, store.saveAlls, store.Saved())
	}
}

// TestMemoryOutboxStoreSaved counts every message saved, also those the
// store has forgotten.
func TestMemoryOutboxStoreSaved(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryOutboxStore(2)
	for i := range 3 {
		if err := s.Save(ctx, OutboxMessage{ID: fmt.Sprint(i), Phone: "13800138000"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveAll(ctx, []OutboxMessage{{ID: "3"}, {ID: "4"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(ctx, "", 10); s.Saved() != 5 || len(got) != 2 || got[0].ID != "4" || got[1].ID != "3" {
		t.Errorf("saved %d, kept %+v; want 5 saved, 4 and 3 kept", s.Saved(), got)
	}
}
