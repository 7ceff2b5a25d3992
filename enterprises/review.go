package enterprises

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"signet/ent"
	"signet/ent/certorder"
	"signet/jobs"
	"signet/viewer"
)

// This file follows certification orders under CA review with River jobs.
//
// The transaction that moves an order into review (the applicant's
// confirmation of a free order, or the payment) also inserts a ReviewArgs
// job for it, so an order can never wait in review without a job. The
// request that made the change tries to submit to the CA at once (so the
// applicant sees the CA's order number); the job submits if that failed and
// then asks the CA about the review until it is decided, snoozing between
// polls (ReviewPollDelay) — a snooze is not a failed attempt, so a review of
// three working days never exhausts the job. Submission is idempotent
// (Application.Reference), so the request, the job and refreshCertOrder may
// race without making two CA orders.
//
// ReviewSweepArgs is a River periodic job (ReviewSweepJob, every 10 minutes
// and at start on the leader) that gives every order in review a job if it
// has none — orders from before this job existed, or whose job was lost.

// DefaultReviewPoll is the first interval between CA polls of one order.
const DefaultReviewPoll = 30 * time.Second

// ReviewPollDelay is how long a review job waits before asking the CA
// again, given the first interval and how long the order has been
// followed: base for the first 20 intervals (10 minutes by default), then
// 4×base (2 minutes) until two hours, then 20×base (10 minutes) — a CA
// takes up to three working days.
func ReviewPollDelay(base, age time.Duration) time.Duration {
	switch {
	case age < 20*base:
		return base
	case age < 2*time.Hour:
		return 4 * base
	default:
		return 20 * base
	}
}

// ReviewArgs is the job following one order under CA review.
type ReviewArgs struct {
	OrderID int `json:"order_id"`
}

// Kind implements river.JobArgs.
func (ReviewArgs) Kind() string { return "enterprise_cert_review" }

// InsertOpts makes the job unique per order while it is waiting or running
// (a completed job does not stop the next review round of the same order).
func (ReviewArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// ReviewWorker works ReviewArgs.
type ReviewWorker struct {
	river.WorkerDefaults[ReviewArgs]
	s *Service
}

// Work submits the order to the CA if needed and concludes it when the CA
// has decided; otherwise it snoozes. Failures (the CA is down) are logged
// and retried after the same delay.
func (w *ReviewWorker) Work(ctx context.Context, job *river.Job[ReviewArgs]) error {
	done, err := w.s.followReview(viewer.System(ctx), job.Args.OrderID)
	if err != nil {
		w.s.log.WarnContext(ctx, "follow CA review", "order", job.Args.OrderID, "err", err)
	}
	if done {
		return nil
	}
	return river.JobSnooze(ReviewPollDelay(w.s.poll, time.Since(job.CreatedAt)))
}

// followReview polls one order and reports whether it left the review (or
// no longer exists).
func (s *Service) followReview(ctx context.Context, orderID int) (bool, error) {
	sys := viewer.System(ctx)
	o, err := s.db.CertOrder.Get(sys, orderID)
	if ent.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if o.Step != certorder.StepReview {
		return true, nil
	}
	if err := s.pollOne(ctx, o); err != nil {
		return false, err
	}
	o, err = s.db.CertOrder.Get(sys, orderID)
	if err != nil {
		return false, err
	}
	return o.Step != certorder.StepReview, nil
}

// enqueueReview inserts the review job of an order in the transaction that
// moves it into review; the first poll comes one interval later (the
// request submits at once).
func (s *Service) enqueueReview(ctx context.Context, jtx jobs.JobTx, orderID int) error {
	// River schedules by the wall clock, not the domain clock.
	return s.jobs.InsertTx(ctx, jtx, ReviewArgs{OrderID: orderID}, &river.InsertOpts{ScheduledAt: time.Now().Add(s.poll)})
}

// ReviewSweepArgs is the periodic job that gives every order in review a
// review job.
type ReviewSweepArgs struct{}

// Kind implements river.JobArgs.
func (ReviewSweepArgs) Kind() string { return "enterprise_cert_review_sweep" }

// ReviewSweepWorker works ReviewSweepArgs.
type ReviewSweepWorker struct {
	river.WorkerDefaults[ReviewSweepArgs]
	s *Service
}

// Work inserts a review job for each order in review; orders that have one
// are skipped by the job's uniqueness.
func (w *ReviewSweepWorker) Work(ctx context.Context, _ *river.Job[ReviewSweepArgs]) error {
	_, err := w.s.SweepReviews(ctx)
	return err
}

// SweepReviews makes sure every order under CA review has a review job and
// returns how many jobs it inserted.
func (s *Service) SweepReviews(ctx context.Context) (int, error) {
	ids, err := s.db.CertOrder.Query().Where(certorder.StepEQ(certorder.StepReview)).IDs(viewer.System(ctx))
	if err != nil {
		return 0, err
	}
	n := 0
	var errList []error
	for _, id := range ids {
		res, err := s.jobs.Insert(ctx, ReviewArgs{OrderID: id}, nil)
		if err != nil {
			errList = append(errList, err)
			continue
		}
		if !res.UniqueSkippedAsDuplicate {
			n++
		}
	}
	if n > 0 {
		s.log.InfoContext(ctx, "CA review jobs restored", "count", n)
	}
	return n, errors.Join(errList...)
}

// ReviewSweepJob is the periodic job the application registers with River
// once every worker is registered (it needs the River client).
func ReviewSweepJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(10*time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return ReviewSweepArgs{}, nil },
		&river.PeriodicJobOpts{ID: "enterprise_cert_review_sweep", RunOnStart: true})
}

// NewReviewWorker returns a review worker of s (New registers one; tests
// call Work directly).
func NewReviewWorker(s *Service) *ReviewWorker { return &ReviewWorker{s: s} }
