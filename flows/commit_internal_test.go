package flows

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"signet/errs"
)

// TestGroupCommitSurvivesAPanic: a group whose commit panics answers its
// signatures with an internal error and leaves the queue to the next
// leader, instead of leaving them waiting for ever. (A plan without a flow
// makes the group panic.)
func TestGroupCommitSurvivesAPanic(t *testing.T) {
	s := &Service{log: slog.New(slog.DiscardHandler)}
	for range 2 {
		done := make(chan error, 1)
		go func() {
			_, err := s.commitSigned(context.Background(), &signPlan{}, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if e := errs.As(err); e == nil || e.Code != errs.Internal {
				t.Fatalf("a panicking group answered %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a panicking group left its signature waiting")
		}
	}
	if s.group.leading || len(s.group.queue) != 0 {
		t.Fatalf("after the panic: leading %v, %d queued", s.group.leading, len(s.group.queue))
	}
}
