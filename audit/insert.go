package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"

	"signet/ent"
	"signet/ent/auditevent"
)

// The events of an append are written by one INSERT built here rather than
// by ent's CreateBulk: a signature appends two or more events, and ent
// built a map of column values per row, a spec per field and the statement
// anew each time — about 85 µs of CPU and 19 KB per signature under load,
// for one statement. The columns and their order are fixed; the text is
// built per append (the SQLite statement cache keys compiled statements by
// it, and PostgreSQL's driver caches them likewise). What ent's create
// would check first, record already has (chain, action, actor, lengths);
// the schema's hook only refuses updates and deletes, and the privacy
// policy admits only the system, which Append writes as.

// insertColumns are the columns an event is written with, in the order of
// insertArgs.
var insertColumns = []string{
	auditevent.FieldChain, auditevent.FieldSeq, auditevent.FieldCreatedAt,
	auditevent.FieldActorType, auditevent.FieldActorID, auditevent.FieldActorName,
	auditevent.FieldAction, auditevent.FieldSubjectType, auditevent.FieldSubjectID,
	auditevent.FieldPayload, auditevent.FieldIP, auditevent.FieldUserAgent, auditevent.FieldRequestID,
	auditevent.FieldPrevHash, auditevent.FieldHash,
}

// insertArgs appends r's values (and its hash) in insertColumns' order.
func insertArgs(args []any, r Record, hash string) []any {
	return append(args, r.Chain, r.Seq, r.Time, r.ActorType, r.ActorID, r.ActorName, r.Action,
		r.SubjectType, r.SubjectID, r.Payload, r.IP, r.UserAgent, r.RequestID, r.PrevHash, hash)
}

// insertSQL is the INSERT of n events for dialect, returning each row's
// ID with its chain and number (the order of RETURNING rows is not
// promised).
func insertSQL(d string, n int) (string, error) {
	if d != dialect.SQLite && d != dialect.Postgres {
		return "", fmt.Errorf("audit: unsupported database %q", d)
	}
	var b strings.Builder
	b.WriteString(`INSERT INTO "` + auditevent.Table + `" (`)
	for i, c := range insertColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"` + c + `"`)
	}
	b.WriteString(") VALUES ")
	arg := 0
	for row := range n {
		if row > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range insertColumns {
			if i > 0 {
				b.WriteString(", ")
			}
			arg++
			if d == dialect.Postgres {
				b.WriteString("$" + strconv.Itoa(arg))
			} else {
				b.WriteByte('?')
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(` RETURNING "` + auditevent.FieldID + `", "` + auditevent.FieldChain + `", "` + auditevent.FieldSeq + `"`)
	return b.String(), nil
}

// insertEvents writes recs, whose hashes are hashes, in tx on database d
// and returns them as stored rows, in the same order.
func insertEvents(ctx context.Context, tx *ent.Tx, d string, recs []Record, hashes []string) ([]*ent.AuditEvent, error) {
	query, err := insertSQL(d, len(recs))
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, len(recs)*len(insertColumns))
	type rowKey struct {
		chain string
		seq   int64
	}
	at := make(map[rowKey]int, len(recs))
	out := make([]*ent.AuditEvent, len(recs))
	for i, r := range recs {
		args = insertArgs(args, r, hashes[i])
		at[rowKey{r.Chain, r.Seq}] = i
		out[i] = &ent.AuditEvent{Chain: r.Chain, Seq: r.Seq, CreatedAt: r.Time, ActorType: r.ActorType,
			ActorID: r.ActorID, ActorName: r.ActorName, Action: r.Action, SubjectType: r.SubjectType,
			SubjectID: r.SubjectID, Payload: r.Payload, IP: r.IP, UserAgent: r.UserAgent,
			RequestID: r.RequestID, PrevHash: r.PrevHash, Hash: hashes[i]}
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var (
			id    int
			chain string
			seq   int64
		)
		if err := rows.Scan(&id, &chain, &seq); err != nil {
			return nil, err
		}
		i, ok := at[rowKey{chain, seq}]
		if !ok {
			return nil, fmt.Errorf("audit: the insert returned an event it was not given (%s #%d)", chain, seq)
		}
		out[i].ID = id
		got++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if got != len(recs) {
		return nil, fmt.Errorf("audit: %d of %d events inserted", got, len(recs))
	}
	return out, nil
}
