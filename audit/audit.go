// Package audit keeps Signet's trail (轨迹): append-only, hash-chained events.
//
// Events belong to a chain — one per flow ("flow:123"), see FlowChain — and
// are numbered 1, 2, 3… within it. Each event's hash is the SHA-256 of a
// canonical encoding of its fields and of the previous event's hash (Hash),
// so editing, deleting or reordering a row breaks the chain, and Verify says
// which. A chain head row (ent AuditHead) records the last number and hash:
// appends lock it, which serialises writers of one chain while other chains
// proceed in parallel, and Verify compares it with the last event, which
// catches a truncated tail.
//
// Append writes in the caller's transaction, so a state change and its audit
// event commit or roll back together. Rows cannot be updated or deleted
// through ent by anyone (a schema hook refuses it); whoever edits them with
// raw SQL is caught by Verify, unless they also rewrite every later hash and
// the head — anchoring a chain's head elsewhere (the evidence report, a
// time-stamp) is what defeats that.
//
// Who may read a trail is the domain's decision: the privacy policy lets only
// the system viewer read audit rows, so a domain package checks that the
// viewer takes part in the flow and then calls List/Verify with
// viewer.System(ctx).
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"signet/database"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/audithead"
	"signet/errs"
	"signet/viewer"
)

// Genesis is the previous hash of a chain's first event: 64 zeros.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxPayload bounds the JSON payload of one event; a trail records facts and
// IDs, never documents.
const MaxPayload = 16 << 10

// FlowChain is the chain key of a flow's trail.
func FlowChain(flowID int) string { return "flow:" + strconv.Itoa(flowID) }

// UserChain is the chain key of a user's own trail (account events).
func UserChain(userID int) string { return "user:" + strconv.Itoa(userID) }

// ActorType says what kind of party acted.
type ActorType string

// Actor types.
const (
	// ActorUser is a registered user (ID is the user id).
	ActorUser ActorType = "user"
	// ActorParticipant is a flow participant acting through a signing link
	// who may have no account (ID is the participant id).
	ActorParticipant ActorType = "participant"
	// ActorSystem is the platform itself (jobs, expiry).
	ActorSystem ActorType = "system"
)

// Actor is who did what an event records.
type Actor struct {
	Type ActorType
	// ID is the user or participant id; 0 for the system.
	ID int
	// Name is what the trail shows: a display name or a masked phone
	// (138****8000), never a full phone number.
	Name string
}

// System is the platform as an actor.
func System() Actor { return Actor{Type: ActorSystem, Name: "系统"} }

// User is a registered user as an actor.
func User(id int, name string) Actor { return Actor{Type: ActorUser, ID: id, Name: name} }

// Participant is a flow participant as an actor.
func Participant(id int, name string) Actor {
	return Actor{Type: ActorParticipant, ID: id, Name: name}
}

// Subject is what an event is about (a flow, a participant, a document).
type Subject struct {
	Type string
	ID   int
}

// Event is what Append records.
type Event struct {
	// Chain is the trail to append to (FlowChain(id)).
	Chain   string
	Actor   Actor
	Action  Action
	Subject Subject
	// Payload is encoded with encoding/json (nil becomes {}); keep it to
	// facts and IDs, at most MaxPayload bytes.
	Payload any
	// Client is where the request came from; zero means
	// viewer.ClientFrom(ctx).
	Client viewer.Client
	// Time is when it happened; zero means now. It is stored with
	// microsecond precision (PostgreSQL's).
	Time time.Time
}

// Append adds ev to its chain inside tx and returns the stored row. It locks
// the chain's head until tx ends, so keep the transaction short. It writes as
// the system viewer whatever viewer ctx carries: recording is the platform's
// act. Errors: errs.Invalid for a malformed event, otherwise internal.
func Append(ctx context.Context, tx *ent.Tx, ev Event) (*ent.AuditEvent, error) {
	rows, err := AppendAll(ctx, tx, ev)
	if err != nil {
		return nil, err
	}
	return rows[0], nil
}

// AppendAll adds evs, in order, inside tx and returns the stored rows in
// the same order: what Append does for each, in fewer round trips — one
// statement reads and locks the heads of all their chains (one more per
// new chain), one inserts the events and one advances the heads, however
// many events. A transition that records several facts at once (a
// signature: each document signed, then the participant) appends them
// together.
func AppendAll(ctx context.Context, tx *ent.Tx, evs ...Event) ([]*ent.AuditEvent, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	var chains []string
	seen := map[string]bool{}
	for _, ev := range evs {
		if !seen[ev.Chain] {
			seen[ev.Chain] = true
			chains = append(chains, ev.Chain)
		}
	}
	w, err := Lock(ctx, tx, chains...)
	if err != nil {
		return nil, err
	}
	return w.Append(ctx, evs...)
}

// Writer appends to the chains whose heads its transaction holds locked
// (Lock). It belongs to that transaction and is not safe for concurrent use.
type Writer struct {
	tx      *ent.Tx
	dialect string
	heads   map[string]*ent.AuditHead
}

// Lock locks the heads of chains until tx ends and returns a Writer for
// them. A transition that must see the chain's other writers' committed
// work (e.g. whether the other parties have signed) locks first, so writers
// of one chain take turns, and appends its events when it knows them.
// Several chains (several flows' signatures committed together) are locked
// in one statement, in the order of their keys, so two transactions locking
// overlapping sets never wait for each other in a circle.
func Lock(ctx context.Context, tx *ent.Tx, chains ...string) (*Writer, error) {
	for _, c := range chains {
		if c == "" || len(c) > 128 {
			return nil, errs.Wrap(fmt.Errorf("audit: bad chain %q", c), errs.Invalid, "审计事件的链标识不正确")
		}
	}
	heads, err := lockHeads(viewer.System(ctx), tx, chains)
	if err != nil {
		return nil, err
	}
	return &Writer{tx: tx, dialect: tx.Client().Dialect(), heads: heads}, nil
}

// Append adds evs, in order, to the writer's chains (every event's Chain
// must be one of them) in two statements: one insert and one update of the
// heads.
func (w *Writer) Append(ctx context.Context, evs ...Event) ([]*ent.AuditEvent, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	sctx := viewer.System(ctx)
	type tip struct {
		seq  int64
		hash string
	}
	tips := map[string]*tip{}
	var moved []string // chains in the order first appended to
	recs, hashes := make([]Record, len(evs)), make([]string, len(evs))
	for i, ev := range evs {
		head := w.heads[ev.Chain]
		if head == nil {
			return nil, errs.Wrap(fmt.Errorf("audit: event for %q on a writer of other chains", ev.Chain), errs.Invalid, "审计事件的链标识不正确")
		}
		rec, err := record(ctx, ev)
		if err != nil {
			return nil, err
		}
		t := tips[ev.Chain]
		if t == nil {
			t = &tip{head.Seq, head.Hash}
			tips[ev.Chain] = t
			moved = append(moved, ev.Chain)
		}
		t.seq++
		rec.Seq, rec.PrevHash = t.seq, t.hash
		t.hash = rec.Hash()
		recs[i], hashes[i] = rec, t.hash
	}
	saved, err := insertEvents(sctx, w.tx, w.dialect, recs, hashes)
	if err != nil {
		return nil, fmt.Errorf("audit: append to %s: %w", strings.Join(moved, ", "), err)
	}
	// A bulk update: UpdateOne would read the row back, one more round trip
	// for nothing. Several heads move in one statement (CASE on the id).
	upd := w.tx.AuditHead.Update()
	if len(moved) == 1 {
		t := tips[moved[0]]
		upd = upd.Where(audithead.ID(w.heads[moved[0]].ID)).SetSeq(t.seq).SetHash(t.hash)
	} else {
		ids := make([]int, len(moved))
		for i, c := range moved {
			ids[i] = w.heads[c].ID
		}
		seqs, hashes := make([]int64, len(moved)), make([]string, len(moved))
		for i, c := range moved {
			seqs[i], hashes[i] = tips[c].seq, tips[c].hash
		}
		upd = upd.Where(audithead.IDIn(ids...)).Modify(func(u *entsql.UpdateBuilder) {
			u.Set(audithead.FieldSeq, database.ByID(ids, seqs, "BIGINT"))
			u.Set(audithead.FieldHash, database.ByID(ids, hashes, "TEXT"))
		})
	}
	if n, err := upd.Save(sctx); err != nil || n != len(moved) {
		if err == nil {
			err = fmt.Errorf("%d of %d heads", n, len(moved))
		}
		return nil, fmt.Errorf("audit: advance chain heads %s: %w", strings.Join(moved, ", "), err)
	}
	for c, t := range tips {
		w.heads[c].Seq, w.heads[c].Hash = t.seq, t.hash
	}
	return saved, nil
}

// lockHeads returns the heads of chains, locked until tx ends: one
// SELECT … FOR UPDATE, in the order of the chain keys, on PostgreSQL (on
// SQLite the transaction already holds the database's write lock from BEGIN
// IMMEDIATE). A new chain's head is created by an upsert whose DO UPDATE
// takes the same lock when two transactions race to create it.
func lockHeads(ctx context.Context, tx *ent.Tx, chains []string) (map[string]*ent.AuditHead, error) {
	sorted := append([]string(nil), chains...)
	sort.Strings(sorted)
	found, err := tx.AuditHead.Query().Where(audithead.ChainIn(sorted...), func(s *entsql.Selector) {
		s.OrderBy(s.C(audithead.FieldChain))
		if s.Dialect() == dialect.Postgres {
			s.ForUpdate()
		}
	}).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: lock chains %s: %w", strings.Join(sorted, ", "), err)
	}
	heads := make(map[string]*ent.AuditHead, len(sorted))
	for _, h := range found {
		heads[h.Chain] = h
	}
	for _, chain := range sorted {
		if heads[chain] != nil {
			continue
		}
		id, err := tx.AuditHead.Create().SetChain(chain).SetSeq(0).SetHash(Genesis).
			OnConflictColumns(audithead.FieldChain).
			Update(func(u *ent.AuditHeadUpsert) { u.AddSeq(0) }).
			ID(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit: lock chain %s: %w", chain, err)
		}
		if heads[chain], err = tx.AuditHead.Get(ctx, id); err != nil {
			return nil, fmt.Errorf("audit: read chain head %s: %w", chain, err)
		}
	}
	return heads, nil
}

// record checks ev and returns its hashed fields, without Seq and PrevHash.
func record(ctx context.Context, ev Event) (Record, error) {
	if ev.Chain == "" || len(ev.Chain) > 128 {
		return Record{}, errs.Wrap(fmt.Errorf("audit: bad chain %q", ev.Chain), errs.Invalid, "审计事件的链标识不正确")
	}
	if !ev.Action.Known() {
		return Record{}, errs.Wrap(fmt.Errorf("audit: unknown action %q", ev.Action), errs.Invalid, "未知的审计事件类型")
	}
	if ev.Actor.Type == "" {
		return Record{}, errs.Wrap(errors.New("audit: no actor"), errs.Invalid, "审计事件缺少操作人")
	}
	payload := []byte("{}")
	if ev.Payload != nil {
		var err error
		if payload, err = json.Marshal(ev.Payload); err != nil {
			return Record{}, fmt.Errorf("audit: encode payload: %w", err)
		}
	}
	if len(payload) > MaxPayload {
		return Record{}, errs.Wrap(fmt.Errorf("audit: payload of %d bytes", len(payload)), errs.Invalid, "审计事件内容过大")
	}
	client := ev.Client
	if client == (viewer.Client{}) {
		client = viewer.ClientFrom(ctx)
	}
	at := ev.Time
	if at.IsZero() {
		at = time.Now()
	}
	return Record{
		Chain: ev.Chain, Time: at.UTC().Truncate(time.Microsecond),
		ActorType: string(ev.Actor.Type), ActorID: ev.Actor.ID, ActorName: truncate(ev.Actor.Name, 128),
		Action: string(ev.Action), SubjectType: ev.Subject.Type, SubjectID: ev.Subject.ID,
		Payload: string(payload), IP: truncate(client.IP, 64), UserAgent: truncate(client.UserAgent, 512),
		RequestID: truncate(client.RequestID, 128),
	}, nil
}

// truncate cuts s to at most n bytes on a UTF-8 boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Record is the part of an event its hash covers: every stored field but
// the row id and the hash itself.
type Record struct {
	Chain       string
	Seq         int64
	Time        time.Time
	ActorType   string
	ActorID     int
	ActorName   string
	Action      string
	SubjectType string
	SubjectID   int
	Payload     string
	IP          string
	UserAgent   string
	RequestID   string
	PrevHash    string
}

// RecordOf returns the hashed fields of a stored event.
func RecordOf(e *ent.AuditEvent) Record {
	return Record{
		Chain: e.Chain, Seq: e.Seq, Time: e.CreatedAt,
		ActorType: e.ActorType, ActorID: e.ActorID, ActorName: e.ActorName,
		Action: e.Action, SubjectType: e.SubjectType, SubjectID: e.SubjectID,
		Payload: e.Payload, IP: e.IP, UserAgent: e.UserAgent, RequestID: e.RequestID,
		PrevHash: e.PrevHash,
	}
}

// hashFormat names the canonical encoding; it is the first thing hashed, so
// a future format can never collide with this one.
const hashFormat = "signet-audit-v1"

// Hash returns the hex SHA-256 of r's canonical encoding: the format name
// and then each field in a fixed order as a netstring ("<len>:<bytes>,"),
// integers in decimal, the time as UTC RFC 3339 with exactly six fractional
// digits. The encoding is unambiguous and independent of how a database
// stores the row, so anyone holding the rows (an evidence report) can
// recompute it.
func (r Record) Hash() string {
	h := sha256.New()
	fields := [...]string{
		hashFormat,
		r.Chain,
		strconv.FormatInt(r.Seq, 10),
		r.Time.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z"),
		r.ActorType,
		strconv.Itoa(r.ActorID),
		r.ActorName,
		r.Action,
		r.SubjectType,
		strconv.Itoa(r.SubjectID),
		r.Payload,
		r.IP,
		r.UserAgent,
		r.RequestID,
		r.PrevHash,
	}
	var buf []byte
	for _, f := range fields {
		buf = strconv.AppendInt(buf[:0], int64(len(f)), 10)
		buf = append(buf, ':')
		h.Write(buf)
		h.Write([]byte(f))
		h.Write([]byte{','})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Page is one page of a chain's events in order.
type Page struct {
	Events []*ent.AuditEvent
	// Next is the seq to pass as after for the next page; 0 when this is
	// the last page.
	Next int64
}

// MaxPageSize bounds List's limit.
const MaxPageSize = 500

// List returns up to limit events of chain with seq > after, in order
// (keyset pagination: pass Page.Next back as after). It queries as the
// viewer in ctx, which the privacy policy only lets through when it is the
// system: check access first.
func List(ctx context.Context, client *ent.Client, chain string, after int64, limit int) (Page, error) {
	if limit <= 0 || limit > MaxPageSize {
		limit = MaxPageSize
	}
	rows, err := client.AuditEvent.Query().
		Where(auditevent.Chain(chain), auditevent.SeqGT(after)).
		Order(ent.Asc(auditevent.FieldSeq)).
		Limit(limit + 1).
		All(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("audit: list %s: %w", chain, err)
	}
	var p Page
	if len(rows) > limit {
		rows = rows[:limit]
		p.Next = rows[limit-1].Seq
	}
	p.Events = rows
	return p, nil
}
