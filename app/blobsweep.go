package app

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"signet/blob"
	"signet/jobs"
)

// The blob store's garbage collection. Content blobs nothing refers to
// accumulate: every signature but the last replaces a revision the next
// one contains whole, a UKey signature leaves its prepared updates, an
// interrupted signature its new revision, a draft its removed documents.
// A periodic job lists every key the contracts and the enterprises refer
// to and removes the other content blobs stored more than BlobSweepGrace
// ago (blob.Disk.SweepContent).

// BlobSweepGrace is how old an unreferenced blob must be to be removed: far
// longer than any write in flight takes to commit the row that refers to
// it.
const BlobSweepGrace = 24 * time.Hour

// blobSweepEvery is how often the sweep runs.
const blobSweepEvery = 6 * time.Hour

// BlobSweepArgs is the periodic sweep job.
type BlobSweepArgs struct{}

// Kind implements river.JobArgs.
func (BlobSweepArgs) Kind() string { return "blob_sweep" }

type blobSweepWorker struct {
	river.WorkerDefaults[BlobSweepArgs]
	a *App
}

func (w *blobSweepWorker) Work(ctx context.Context, _ *river.Job[BlobSweepArgs]) error {
	res, err := w.a.SweepBlobs(ctx, BlobSweepGrace)
	if err != nil {
		return err
	}
	w.a.Logger.InfoContext(ctx, "blob sweep", "removed", res.Removed, "bytes", res.Bytes, "kept", res.Kept)
	return nil
}

// Timeout lets a sweep of a large store run longer than River's default.
func (w *blobSweepWorker) Timeout(*river.Job[BlobSweepArgs]) time.Duration { return time.Hour }

// SweepBlobs removes the content blobs that neither the contracts nor the
// enterprises refer to, and the closed packs nothing refers into, stored
// more than grace ago. A store
// that cannot sweep (not the disk store) is left alone.
func (a *App) SweepBlobs(ctx context.Context, grace time.Duration) (blob.SweepResult, error) {
	d, ok := a.Blobs.(interface {
		SweepContent(context.Context, time.Duration, func(string) bool) (blob.SweepResult, error)
	})
	if !ok {
		return blob.SweepResult{}, nil
	}
	// The keys are listed first: a row committed after this refers to a
	// blob written (or stored again) after it, which grace protects.
	refs := blob.Refs{}
	if a.Flows == nil || a.Enterprises == nil {
		return blob.SweepResult{}, errors.New("blob sweep: the services are not built")
	}
	if err := a.Flows.BlobKeys(ctx, refs.Add); err != nil {
		return blob.SweepResult{}, err
	}
	if err := a.Enterprises.BlobKeys(ctx, refs.Add); err != nil {
		return blob.SweepResult{}, err
	}
	return d.SweepContent(ctx, grace, refs.Keep)
}

// addBlobSweep registers the sweep's worker.
func (a *App) addBlobSweep() error {
	return jobs.AddWorker(a.Jobs, &blobSweepWorker{a: a})
}

// blobSweepJob is the sweep's schedule.
func blobSweepJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(blobSweepEvery),
		func() (river.JobArgs, *river.InsertOpts) { return BlobSweepArgs{}, nil },
		&river.PeriodicJobOpts{ID: "blob_sweep"})
}
