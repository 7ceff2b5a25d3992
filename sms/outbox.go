package sms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"signet/errs"
)

// OutboxMessage is a message the Outbox provider kept instead of sending.
type OutboxMessage struct {
	ID        string            `json:"id"`
	Phone     string            `json:"phone"`
	Template  Template          `json:"template"`
	Params    map[string]string `json:"params"`
	Text      string            `json:"text"` // as the phone would have shown it
	CreatedAt time.Time         `json:"createdAt"`
}

// OutboxStore keeps outbox messages. The application backs it with its
// database; MemoryOutboxStore serves tests and single-process use.
type OutboxStore interface {
	// Save stores m. m.ID is unique.
	Save(ctx context.Context, m OutboxMessage) error
	// List returns up to limit (> 0) messages, newest first; for one phone,
	// or for every phone when phone is "".
	List(ctx context.Context, phone string, limit int) ([]OutboxMessage, error)
}

// BatchOutboxStore is an OutboxStore that saves several messages at once
// (the application's: one insert). Outbox.SendBatch uses it when the store
// has it.
type BatchOutboxStore interface {
	OutboxStore
	// SaveAll stores ms, all or none.
	SaveAll(ctx context.Context, ms []OutboxMessage) error
}

// Outbox is the development Provider: it renders each message, saves it to
// an OutboxStore and logs it, and sends nothing. Developers read their codes
// from the log or from OutboxHandler.
type Outbox struct {
	store    OutboxStore
	logger   *slog.Logger
	signName string
	now      func() time.Time
}

var _ BatchProvider = (*Outbox)(nil)

// NewOutbox returns an Outbox saving to store and logging to logger (a nil
// logger discards the log). Messages are signed with DefaultSignName.
func NewOutbox(store OutboxStore, logger *slog.Logger) *Outbox {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Outbox{store: store, logger: logger, signName: DefaultSignName, now: time.Now}
}

// WithSignName returns a copy of o that signs messages with name.
func (o *Outbox) WithSignName(name string) *Outbox {
	c := *o
	c.signName = name
	return &c
}

// Send implements Provider. It returns Invalid for a bad phone number and
// Internal when the message cannot be rendered or saved.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	msg, err := o.render(m)
	if err != nil {
		return err
	}
	if err := o.store.Save(ctx, msg); err != nil {
		return errs.Wrap(fmt.Errorf("sms: outbox save: %w", err), errs.Internal, "短信发送失败，请稍后再试")
	}
	o.logKept(ctx, msg)
	return nil
}

// SendBatch implements BatchProvider: each message is checked and rendered
// as Send does, and those that pass are saved together — with one SaveAll
// when the store is a BatchOutboxStore, else one Save each.
func (o *Outbox) SendBatch(ctx context.Context, ms []Message) []error {
	out := make([]error, len(ms))
	var (
		msgs []OutboxMessage
		at   []int // msgs[k] is ms[at[k]]
	)
	for i, m := range ms {
		msg, err := o.render(m)
		if err != nil {
			out[i] = err
			continue
		}
		msgs, at = append(msgs, msg), append(at, i)
	}
	bs, ok := o.store.(BatchOutboxStore)
	if !ok || len(msgs) < 2 {
		for k, msg := range msgs {
			if err := o.store.Save(ctx, msg); err != nil {
				out[at[k]] = errs.Wrap(fmt.Errorf("sms: outbox save: %w", err), errs.Internal, "短信发送失败，请稍后再试")
				continue
			}
			o.logKept(ctx, msg)
		}
		return out
	}
	if err := bs.SaveAll(ctx, msgs); err != nil {
		err = errs.Wrap(fmt.Errorf("sms: outbox save %d: %w", len(msgs), err), errs.Internal, "短信发送失败，请稍后再试")
		for _, i := range at {
			out[i] = err
		}
		return out
	}
	for _, msg := range msgs {
		o.logKept(ctx, msg)
	}
	return out
}

// render checks m and makes the message the outbox keeps: Invalid for a bad
// phone number, Internal when it cannot be rendered.
func (o *Outbox) render(m Message) (OutboxMessage, error) {
	if !ValidPhone(m.Phone) {
		return OutboxMessage{}, errs.InvalidField("phone", "手机号码格式不正确")
	}
	text, err := RenderSigned(o.signName, m.Template, m.Params)
	if err != nil {
		return OutboxMessage{}, errs.Wrap(fmt.Errorf("sms: outbox send: %w", err), errs.Internal, "短信发送失败，请稍后再试")
	}
	id, err := newID()
	if err != nil {
		return OutboxMessage{}, errs.Wrap(fmt.Errorf("sms: outbox send: %w", err), errs.Internal, "短信发送失败，请稍后再试")
	}
	return OutboxMessage{
		ID:        id,
		Phone:     m.Phone,
		Template:  m.Template,
		Params:    copyParams(m.Params),
		Text:      text,
		CreatedAt: o.now().UTC(),
	}, nil
}

func (o *Outbox) logKept(ctx context.Context, msg OutboxMessage) {
	o.logger.InfoContext(ctx, "sms outbox: message not sent, kept in outbox",
		"id", msg.ID, "phone", msg.Phone, "template", string(msg.Template), "text", msg.Text)
}

func newID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func copyParams(p map[string]string) map[string]string {
	c := make(map[string]string, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

// DefaultMemoryOutboxCapacity is the capacity NewMemoryOutboxStore uses when
// given a capacity <= 0.
const DefaultMemoryOutboxCapacity = 1000

// MemoryOutboxStore is an OutboxStore in memory. It keeps the newest
// messages up to its capacity and forgets the oldest. It is safe for
// concurrent use.
type MemoryOutboxStore struct {
	mu       sync.Mutex
	capacity int
	msgs     []OutboxMessage // oldest first
	saved    int
}

var _ BatchOutboxStore = (*MemoryOutboxStore)(nil)

// NewMemoryOutboxStore returns an empty store that keeps at most capacity
// messages (DefaultMemoryOutboxCapacity when capacity <= 0).
func NewMemoryOutboxStore(capacity int) *MemoryOutboxStore {
	if capacity <= 0 {
		capacity = DefaultMemoryOutboxCapacity
	}
	return &MemoryOutboxStore{capacity: capacity}
}

// Save implements OutboxStore.
func (s *MemoryOutboxStore) Save(ctx context.Context, m OutboxMessage) error {
	return s.SaveAll(ctx, []OutboxMessage{m})
}

// SaveAll implements BatchOutboxStore.
func (s *MemoryOutboxStore) SaveAll(ctx context.Context, ms []OutboxMessage) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory outbox save: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range ms {
		m.Params = copyParams(m.Params)
		if len(s.msgs) == s.capacity {
			// Drop the oldest; copy down so the backing array does not grow.
			copy(s.msgs, s.msgs[1:])
			s.msgs = s.msgs[:len(s.msgs)-1]
		}
		s.msgs = append(s.msgs, m)
		s.saved++
	}
	return nil
}

// Saved is how many messages the store has saved since it was made,
// including those it has forgotten since.
func (s *MemoryOutboxStore) Saved() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saved
}

// List implements OutboxStore.
func (s *MemoryOutboxStore) List(ctx context.Context, phone string, limit int) ([]OutboxMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory outbox list: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("memory outbox list: limit %d is not positive", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []OutboxMessage{}
	for i := len(s.msgs) - 1; i >= 0 && len(out) < limit; i-- {
		if phone == "" || s.msgs[i].Phone == phone {
			m := s.msgs[i]
			m.Params = copyParams(m.Params)
			out = append(out, m)
		}
	}
	return out, nil
}

// Limits of OutboxHandler's limit parameter.
const (
	OutboxDefaultLimit = 20
	OutboxMaxLimit     = 100
)

// OutboxHandler serves the outbox for one phone as JSON, for development
// only (the server mounts it at /dev/outbox in development mode):
//
//	GET ?phone=13800138000[&limit=20]
//	200 {"messages":[{"id":…,"phone":…,"template":…,"params":{…},"text":…,"createdAt":…}]}  newest first
//	400 {"error":{"code":"INVALID_ARGUMENT","message":…,"field":"phone"}}
//
// limit defaults to OutboxDefaultLimit and may be at most OutboxMaxLimit.
func OutboxHandler(store OutboxStore) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, errs.Invalid, "仅支持 GET 请求", "")
			return
		}
		q := r.URL.Query()
		phone := q.Get("phone")
		switch {
		case phone == "":
			writeJSONError(w, http.StatusBadRequest, errs.Invalid, "请提供手机号码（phone 参数）", "phone")
			return
		case !ValidPhone(phone):
			writeJSONError(w, http.StatusBadRequest, errs.Invalid, "手机号码格式不正确", "phone")
			return
		}
		limit := OutboxDefaultLimit
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > OutboxMaxLimit {
				writeJSONError(w, http.StatusBadRequest, errs.Invalid,
					fmt.Sprintf("limit 须为 1 到 %d 之间的整数", OutboxMaxLimit), "limit")
				return
			}
			limit = n
		}
		msgs, err := store.List(r.Context(), phone, limit)
		if err != nil {
			writeJSONError(w, http.StatusInternalServerError, errs.Internal, errs.MessageOf(err), "")
			return
		}
		if msgs == nil {
			msgs = []OutboxMessage{}
		}
		writeJSON(w, http.StatusOK, struct {
			Messages []OutboxMessage `json:"messages"`
		}{msgs})
	})
}

func writeJSONError(w http.ResponseWriter, status int, code errs.Code, message, field string) {
	type body struct {
		Code    errs.Code `json:"code"`
		Message string    `json:"message"`
		Field   string    `json:"field,omitempty"`
	}
	writeJSON(w, status, struct {
		Error body `json:"error"`
	}{body{code, message, field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	// The status is already written: a failed write cannot be reported to
	// the client, and the values encoded here cannot fail to marshal.
	_ = enc.Encode(v)
}
