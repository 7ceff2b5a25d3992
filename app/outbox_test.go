package app_test

import (
	"context"
	"testing"
	"time"

	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/sms"
)

// TestOutboxSaveAll: the application's outbox store saves a batch of texts
// in one insert, each readable as Save would have left it, newest first.
func TestOutboxSaveAll(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		store, ok := s.App.Outbox.(sms.BatchOutboxStore)
		if !ok {
			t.Fatalf("the app's outbox store %T cannot save a batch", s.App.Outbox)
		}
		ctx := context.Background()
		at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		ms := []sms.OutboxMessage{
			{Phone: "13900000001", Template: sms.TemplateSignLink, Params: map[string]string{"contract": "合同一"}, Text: "一", CreatedAt: at},
			{Phone: "13900000002", Template: sms.TemplateSignLink, Params: map[string]string{"contract": "合同二"}, Text: "二", CreatedAt: at.Add(time.Second)},
			{Phone: "13900000001", Template: sms.TemplateSignLink, Params: map[string]string{"contract": "合同三"}, Text: "三", CreatedAt: at.Add(2 * time.Second)},
		}
		if err := store.SaveAll(ctx, ms); err != nil {
			t.Fatal(err)
		}
		got, err := store.List(ctx, "13900000001", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Text != "三" || got[1].Text != "一" || got[1].Params["contract"] != "合同一" ||
			got[1].Template != sms.TemplateSignLink || !got[1].CreatedAt.Equal(at) {
			t.Errorf("13900000001's texts: %+v", got)
		}
		if got, _ := store.List(ctx, "13900000002", 10); len(got) != 1 || got[0].Text != "二" {
			t.Errorf("13900000002's texts: %+v", got)
		}
	})
}
