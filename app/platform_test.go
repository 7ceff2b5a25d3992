package app_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"signet/ent"
	"signet/events"
	"signet/flows"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/jobs"
)

// TestPlatformWiring checks what app.New builds for domain packages: River's
// tables migrated in development, a job inserted in the same transaction as
// ent rows, the blob store under <data>/blobs, and the events broker — on
// PostgreSQL a publish through one instance reaches a subscriber on another.
func TestPlatformWiring(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		a := apitest.Start(t, b, apitest.Options{})
		other := apitest.Start(t, b, apitest.Options{})
		ctx := context.Background()

		if err := jobs.WithTx(ctx, a.App.DB, func(tx *ent.Tx, jtx jobs.JobTx) error {
			err := a.App.Jobs.InsertTx(ctx, jtx, flows.NotifyArgs{}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := a.App.DB.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'flows.notify'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("river_job rows %d, %v", n, err)
		}

		info, err := a.App.Blobs.PutContent(ctx, strings.NewReader("%PDF-1.7"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(a.App.Config.DataDir, "blobs", "objects", "sha256", info.SHA256[:2], info.SHA256)); err != nil {
			t.Errorf("blob not under <data>/blobs: %v", err)
		}

		ch, cancel := other.App.Events.Subscribe(ctx, events.FlowTopic(1))
		defer cancel()
		ev := events.Event{Topic: events.FlowTopic(1), Kind: "participant.signed", ID: 2}
		if b.Name == "postgres" {
			p, ok := other.App.Events.(*events.Postgres)
			if !ok {
				t.Fatalf("broker on PostgreSQL is %T", other.App.Events)
			}
			<-p.Ready()
			if err := a.App.Events.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		} else {
			if _, ok := a.App.Events.(*events.Local); !ok {
				t.Fatalf("broker on SQLite is %T", a.App.Events)
			}
			// One process per SQLite file: each instance has its own broker.
			if err := other.App.Events.Publish(ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case got := <-ch:
			if got != ev {
				t.Errorf("got %+v", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
	})
}
