package flows

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"signet/blob"
	"signet/ent"
	"signet/ent/stagedblob"
	"signet/errs"
	"signet/viewer"
)

// Staged revisions. A signature's new revision must be durable before the
// commit that refers to it. The disk store packs the revisions of a group
// commit into one file with one sync before the transaction (blob.Packer,
// commit.go: packRevisions). For a signature committing alone, or a store
// that cannot pack (an object store), a write of its own on the request
// path would cost more than the signature itself. Instead the revision is
// inserted as a staged blob in the
// committing transaction, so it is exactly as durable as the commit and
// disappears with a rollback; the mover (RunMover) then writes staged blobs
// to the store and deletes their rows. Readers (OpenRevision) look in the store
// first and in the staged table second; a blob is in at least one of them at
// every moment, because the mover deletes a row only after the store has
// the blob durably.

// DefaultStageLimit is the largest revision staged in the database; larger
// ones are written to the blob store before the commit.
const DefaultStageLimit = 8 << 20

// moveBatch and moveBytes bound what the mover writes per round: this many
// staged blobs, and no more bytes than this (past the first blob) in memory.
const (
	moveBatch = 32
	moveBytes = 32 << 20
)

// stageRevisions stores revisions for the transaction tx: staged in it
// (one insert for all) when small enough, else durably in the blob store.
// It returns each one's blob key and SHA-256 (hex), and whether any was
// staged.
func (s *Service) stageRevisions(ctx context.Context, tx *ent.Tx, pdfs [][]byte) (keys, sums []string, staged bool, err error) {
	keys, sums = make([]string, len(pdfs)), make([]string, len(pdfs))
	ins := entsql.Dialect(s.database.Dialect).Insert(stagedblob.Table).
		Columns(stagedblob.FieldKey, stagedblob.FieldContent, stagedblob.FieldCreatedAt)
	now := s.now()
	seen := map[string]bool{}
	for i, pdf := range pdfs {
		if s.stageLimit < 0 || len(pdf) > s.stageLimit {
			if keys[i], sums[i], err = s.putPDF(ctx, pdf); err != nil {
				return nil, nil, false, err
			}
			continue
		}
		h := sha256.Sum256(pdf)
		sums[i] = hex.EncodeToString(h[:])
		keys[i] = blob.ContentKey(sums[i])
		if !seen[keys[i]] {
			seen[keys[i]] = true
			ins.Values(keys[i], pdf, now)
		}
	}
	if len(seen) == 0 {
		return keys, sums, false, nil
	}
	// The same content staged twice (a retried commit) is one row.
	q, args := ins.OnConflict(entsql.ConflictColumns(stagedblob.FieldKey), entsql.DoNothing()).Query()
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return nil, nil, false, fmt.Errorf("stage revisions: %w", err)
	}
	return keys, sums, true, nil
}

// OpenRevision opens a stored document revision (a FlowDocument's current
// or original key), from the blob store or, until the mover has written it
// there, from the staged table. Errors: errs.NotFound.
func (s *Service) OpenRevision(ctx context.Context, key string) (io.ReadCloser, error) {
	rc, err := s.blobs.Get(ctx, key)
	if err == nil || !errs.Is(err, errs.NotFound) {
		return rc, err
	}
	b, serr := s.db.StagedBlob.Query().Where(stagedblob.Key(key)).Select(stagedblob.FieldContent).Only(viewer.System(ctx))
	switch {
	case serr == nil:
		return io.NopCloser(bytes.NewReader(b.Content)), nil
	case !ent.IsNotFound(serr):
		return nil, serr
	}
	// Moved between the two reads: the store has it now.
	return s.blobs.Get(ctx, key)
}

// kickMover tells this node's mover that a commit staged something.
func (s *Service) kickMover() {
	select {
	case s.staged <- struct{}{}:
	default:
	}
}

// MoveStaged writes up to limit staged blobs (and about moveBytes), oldest
// first, to the blob store and deletes their rows; it returns how many it
// moved. Several nodes may move at once: writing the same content twice is
// harmless, and so is deleting a row already deleted.
func (s *Service) MoveStaged(ctx context.Context, limit int) (int, error) {
	sys := viewer.System(ctx)
	// Sizes first, so a batch of large revisions stops at moveBytes.
	var sizes []struct {
		ID   int `json:"id"`
		Size int `json:"size"`
	}
	err := s.db.StagedBlob.Query().Order(ent.Asc(stagedblob.FieldID)).Limit(limit).
		Modify(func(sel *entsql.Selector) {
			sel.Select(sel.C(stagedblob.FieldID), entsql.As("length("+sel.C(stagedblob.FieldContent)+")", "size"))
		}).Scan(sys, &sizes)
	if err != nil || len(sizes) == 0 {
		return 0, err
	}
	var ids []int
	total := 0
	for _, r := range sizes {
		ids = append(ids, r.ID)
		if total += r.Size; total >= moveBytes {
			break
		}
	}
	rows, err := s.db.StagedBlob.Query().Where(stagedblob.IDIn(ids...)).Order(ent.Asc(stagedblob.FieldID)).All(sys)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	infos, err := s.putStaged(ctx, rows)
	if err != nil {
		return 0, fmt.Errorf("move staged blobs: %w", err)
	}
	moved := make([]int, 0, len(rows))
	for i, r := range rows {
		if infos[i].Key != r.Key {
			// The row's bytes do not match its key: keep it for a person to see.
			s.log.Error("staged blob does not match its key", "key", r.Key, "content", infos[i].Key)
			continue
		}
		moved = append(moved, r.ID)
	}
	if _, err := s.db.StagedBlob.Delete().Where(stagedblob.IDIn(moved...)).Exec(sys); err != nil {
		return 0, fmt.Errorf("move staged blobs: %w", err)
	}
	return len(moved), nil
}

// putStaged stores the rows' contents durably, with one file system sync
// for all of them when the store can (blob.Disk.PutContents).
func (s *Service) putStaged(ctx context.Context, rows []*ent.StagedBlob) ([]blob.Info, error) {
	if many, ok := s.blobs.(interface {
		PutContents(context.Context, [][]byte) ([]blob.Info, error)
	}); ok {
		contents := make([][]byte, len(rows))
		for i, r := range rows {
			contents[i] = r.Content
		}
		return many.PutContents(ctx, contents)
	}
	infos := make([]blob.Info, len(rows))
	for i, r := range rows {
		info, err := s.blobs.PutContent(ctx, bytes.NewReader(r.Content))
		if err != nil {
			return nil, err
		}
		infos[i] = info
	}
	return infos, nil
}

// RunMover moves staged blobs to the blob store until ctx ends: at once,
// whenever a commit on this node staged one, and every interval (for what
// other nodes or a crashed process left).
func (s *Service) RunMover(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for {
			n, err := s.MoveStaged(ctx, moveBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("move staged blobs", "err", err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.staged:
		case <-t.C:
		}
	}
}
