package audit

import (
	"context"
	"fmt"

	"signet/ent"
	"signet/ent/audithead"
)

// ProblemKind classifies what Verify found wrong with a chain.
type ProblemKind string

// Problem kinds.
const (
	// Edited: the row's fields no longer match its hash.
	Edited ProblemKind = "edited"
	// Deleted: one or more numbers are missing before this row.
	Deleted ProblemKind = "deleted"
	// Reordered: the row is intact but was written with another number.
	Reordered ProblemKind = "reordered"
	// Relinked: the row is intact but the row before it is not the one it
	// was chained to — that row was replaced and rehashed.
	Relinked ProblemKind = "relinked"
	// HeadMismatch: the chain head disagrees with the last row (rows were
	// removed from the end, or the head was tampered with).
	HeadMismatch ProblemKind = "head_mismatch"
)

// Problem is one defect Verify found.
type Problem struct {
	// Seq is the number of the row at fault; for Deleted the first missing
	// number; for HeadMismatch the last row's number.
	Seq    int64
	Kind   ProblemKind
	Detail string
}

// Report is the result of verifying one chain.
type Report struct {
	Chain string
	// Events is how many rows the chain holds.
	Events int
	// LastSeq and LastHash describe the last row (0 and Genesis when empty).
	LastSeq  int64
	LastHash string
	Problems []Problem
}

// OK reports whether the chain verified without problems.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// row is what Verify keeps of each event.
type row struct {
	seq       int64
	hash      string
	prev      string
	contentOK bool
	rec       Record
}

// verifyBatch is how many rows Verify reads per query.
const verifyBatch = 1000

// Verify reads chain in order, recomputes every hash, and reports edited,
// deleted, reordered and relinked rows and a head that disagrees with the
// last row. A nil error with problems means the chain is damaged; an error
// means it could not be read. It queries as the viewer in ctx (use
// viewer.System after checking access). The chain may be appended to
// meanwhile: Verify checks it as of a head it read after the rows.
func Verify(ctx context.Context, client *ent.Client, chain string) (Report, error) {
	rep := Report{Chain: chain, LastHash: Genesis}
	var rows []row
	// readAfter appends the rows numbered after seq and says how many.
	readAfter := func(seq int64) (int, error) {
		n := 0
		for after := seq; ; {
			p, err := List(ctx, client, chain, after, verifyBatch)
			if err != nil {
				return n, err
			}
			for _, e := range p.Events {
				rec := RecordOf(e)
				rows = append(rows, row{seq: e.Seq, hash: e.Hash, prev: e.PrevHash, rec: rec, contentOK: rec.Hash() == e.Hash})
			}
			n += len(p.Events)
			if p.Next == 0 {
				return n, nil
			}
			after = p.Next
		}
	}
	lastSeq := func() int64 {
		if len(rows) == 0 {
			return 0
		}
		return rows[len(rows)-1].seq
	}
	if _, err := readAfter(0); err != nil {
		return rep, err
	}
	// Events and the head that counts them are committed together, so a
	// head read after the rows counts at least those rows. One that counts
	// more means events were appended after the rows were read — or the
	// tail was deleted: read on until the rows reach a head read after
	// them, or no more rows come.
	head, headErr := client.AuditHead.Query().Where(audithead.Chain(chain)).Only(ctx)
	for headErr == nil && head.Seq > lastSeq() {
		n, err := readAfter(lastSeq())
		if err != nil {
			return rep, err
		}
		if n == 0 {
			break
		}
		head, headErr = client.AuditHead.Query().Where(audithead.Chain(chain)).Only(ctx)
	}
	rep.Events = len(rows)

	byHash := make(map[string]int, len(rows))
	for i, r := range rows {
		byHash[r.hash] = i
	}
	// origSeq is the number a row was written with, found by following the
	// prev-hash links back to a row that verifies (or to the genesis); 0
	// when the links lead nowhere.
	origSeq := func(i int) int64 {
		var steps int64
		for depth := 0; depth < 64; depth++ {
			steps++
			if rows[i].prev == Genesis {
				return steps
			}
			j, ok := byHash[rows[i].prev]
			if !ok || j == i {
				return 0
			}
			if rows[j].contentOK {
				return rows[j].seq + steps
			}
			i = j
		}
		return 0
	}

	expected, prevHash, prevOK := int64(1), Genesis, true
	for i, r := range rows {
		gap := r.seq != expected
		if gap {
			detail := fmt.Sprintf("第 %d 条事件缺失", expected)
			if r.seq-expected > 1 {
				detail = fmt.Sprintf("第 %d–%d 条事件缺失", expected, r.seq-1)
			}
			rep.Problems = append(rep.Problems, Problem{Seq: expected, Kind: Deleted, Detail: detail})
		}
		switch {
		case !r.contentOK:
			if s := origSeq(i); s > 0 && s != r.seq && withSeq(r.rec, s).Hash() == r.hash {
				rep.Problems = append(rep.Problems, Problem{Seq: r.seq, Kind: Reordered,
					Detail: fmt.Sprintf("第 %d 条事件原为第 %d 条，顺序被调换", r.seq, s)})
			} else {
				rep.Problems = append(rep.Problems, Problem{Seq: r.seq, Kind: Edited,
					Detail: fmt.Sprintf("第 %d 条事件的内容与其哈希不符，已被修改", r.seq)})
			}
		case !gap && prevOK && r.prev != prevHash:
			rep.Problems = append(rep.Problems, Problem{Seq: r.seq, Kind: Relinked,
				Detail: fmt.Sprintf("第 %d 条事件之前的事件已被替换", r.seq)})
		}
		expected, prevHash, prevOK = r.seq+1, r.hash, r.contentOK
	}
	if n := len(rows); n > 0 {
		rep.LastSeq, rep.LastHash = rows[n-1].seq, rows[n-1].hash
	}

	switch {
	case ent.IsNotFound(headErr):
		if len(rows) > 0 {
			rep.Problems = append(rep.Problems, Problem{Seq: rep.LastSeq, Kind: HeadMismatch, Detail: "轨迹的链头记录缺失"})
		}
	case headErr != nil:
		return rep, fmt.Errorf("audit: read chain head %s: %w", chain, headErr)
	case head.Seq != rep.LastSeq || head.Hash != rep.LastHash:
		detail := "链头记录与最后一条事件不符"
		if head.Seq > rep.LastSeq {
			detail = fmt.Sprintf("链头记录共 %d 条事件，现仅存到第 %d 条：末尾事件已被删除", head.Seq, rep.LastSeq)
		}
		rep.Problems = append(rep.Problems, Problem{Seq: rep.LastSeq, Kind: HeadMismatch, Detail: detail})
	}
	return rep, nil
}

func withSeq(r Record, seq int64) Record { r.Seq = seq; return r }
