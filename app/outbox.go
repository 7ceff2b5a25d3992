package app

import (
	"context"
	"fmt"
	"strconv"

	"signet/ent"
	"signet/ent/outboxmessage"
	"signet/sms"
	"signet/viewer"
)

// outboxStore keeps the development SMS outbox in the database, so every
// node (and a test reading codes) sees the same messages.
type outboxStore struct{ db *ent.Client }

// Save implements sms.OutboxStore.
func (s outboxStore) Save(ctx context.Context, m sms.OutboxMessage) error {
	err := s.db.OutboxMessage.Create().
		SetPhone(m.Phone).SetTemplate(string(m.Template)).SetParams(m.Params).
		SetText(m.Text).SetCreatedAt(m.CreatedAt).Exec(viewer.System(ctx))
	if err != nil {
		return fmt.Errorf("outbox save: %w", err)
	}
	return nil
}

// SaveAll implements sms.BatchOutboxStore: one insert.
func (s outboxStore) SaveAll(ctx context.Context, ms []sms.OutboxMessage) error {
	builders := make([]*ent.OutboxMessageCreate, len(ms))
	for i, m := range ms {
		builders[i] = s.db.OutboxMessage.Create().
			SetPhone(m.Phone).SetTemplate(string(m.Template)).SetParams(m.Params).
			SetText(m.Text).SetCreatedAt(m.CreatedAt)
	}
	if err := s.db.OutboxMessage.CreateBulk(builders...).Exec(viewer.System(ctx)); err != nil {
		return fmt.Errorf("outbox save %d: %w", len(ms), err)
	}
	return nil
}

// List implements sms.OutboxStore.
func (s outboxStore) List(ctx context.Context, phone string, limit int) ([]sms.OutboxMessage, error) {
	q := s.db.OutboxMessage.Query()
	if phone != "" {
		q = q.Where(outboxmessage.Phone(phone))
	}
	rows, err := q.Order(ent.Desc(outboxmessage.FieldCreatedAt), ent.Desc(outboxmessage.FieldID)).
		Limit(limit).All(viewer.System(ctx))
	if err != nil {
		return nil, fmt.Errorf("outbox list: %w", err)
	}
	out := make([]sms.OutboxMessage, len(rows))
	for i, r := range rows {
		out[i] = sms.OutboxMessage{ID: strconv.Itoa(r.ID), Phone: r.Phone, Template: sms.Template(r.Template),
			Params: r.Params, Text: r.Text, CreatedAt: r.CreatedAt}
	}
	return out, nil
}
