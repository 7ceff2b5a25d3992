package database_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"signet/database"
)

// TestLockWrites: SQLite writers of one process take turns — a second
// writer waits until the first unlocks, and gives up when its context ends.
func TestLockWrites(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, "", filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	unlock, err := db.LockWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		u2, err := db.LockWrites(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		got <- time.Now()
		u2()
	}()
	time.Sleep(50 * time.Millisecond)
	released := time.Now()
	unlock()
	select {
	case at := <-got:
		if at.Before(released) {
			t.Fatal("the second writer went in before the first unlocked")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second writer never went in")
	}

	unlock, err = db.LockWrites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := db.LockWrites(short); err == nil {
		t.Fatal("a writer whose context ended went in")
	}
}
