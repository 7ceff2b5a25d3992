package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/errs"
	"signet/events"
	"signet/jobs"
	"signet/viewer"
)

// The trail (轨迹) and each party's progress (DOC-5, DOC-7), and their live
// updates. Who may follow a flow: its initiator always; its parties (signers
// and CC) once it is sent. Anyone else is told the flow does not exist.

// follow loads flow id and its parties when the viewer may follow it.
func (s *Service) follow(ctx context.Context, id int) (*ent.Flow, []*ent.Participant, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	sys := viewer.System(ctx)
	f, err := s.db.Flow.Get(sys, id)
	if ent.IsNotFound(err) {
		return nil, nil, notFound()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load flow: %w", err)
	}
	parts, err := s.db.Participant.Query().Where(participant.FlowID(id)).All(sys)
	if err != nil {
		return nil, nil, fmt.Errorf("load parties: %w", err)
	}
	if f.InitiatorID == v.UserID {
		return f, parts, nil
	}
	if f.Status != flow.StatusDraft {
		for _, p := range parts {
			if isMine(p, v) {
				return f, parts, nil
			}
		}
	}
	return nil, nil, notFound()
}

// MarkViewed records that the viewer, a party of a sent flow, opened it
// (participant.viewed). Only the first view of each of their parties is
// recorded; it reports whether this one was. The initiator's views are not
// recorded. Others: NotFound.
func (s *Service) MarkViewed(ctx context.Context, flowID int) (bool, error) {
	f, parts, err := s.follow(ctx, flowID)
	if err != nil {
		return false, err
	}
	v := viewer.FromContext(ctx)
	var first []*ent.Participant // the viewer's parties not yet viewed
	for _, p := range parts {
		if isMine(p, v) && f.Status != flow.StatusDraft && p.ViewedAt == nil {
			first = append(first, p)
		}
	}
	if len(first) == 0 {
		return false, nil
	}
	recorded := false
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		sys := viewer.System(ctx)
		trail, err := lockFirst(ctx, tx, f.ID)
		if err != nil {
			return err
		}
		now := s.now()
		for _, p := range first {
			n, err := tx.Participant.Update().Where(participant.ID(p.ID), participant.ViewedAtIsNil()).SetViewedAt(now).Save(sys)
			if err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			if _, err := trail.Append(ctx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
				Action: audit.ParticipantViewed, Subject: audit.Subject{Type: "participant", ID: p.ID},
				Payload: map[string]any{"name": p.Name}}); err != nil {
				return err
			}
			s.announce(tx, f, audit.ParticipantViewed, p.ID)
			recorded = true
		}
		return nil
	})
	return recorded, err
}

// PartyProgress is one party's progress in a flow.
type PartyProgress struct {
	ParticipantID  int
	Role           participant.Role
	Kind           participant.Kind
	Order          int
	Name           string
	EnterpriseName string
	// MaskedPhone is the phone as 138****8000.
	MaskedPhone    string
	Status         participant.Status
	ViewedAt       *time.Time
	SignedAt       *time.Time
	DeclinedAt     *time.Time
	DeclineReason  string
	LastRemindedAt *time.Time
	// Mine says the party is the viewer.
	Mine bool
}

// Progress is a flow with each party's progress: signers in signing order,
// then CC recipients.
type Progress struct {
	Flow    *ent.Flow
	Parties []PartyProgress
}

// Progress returns each party's progress for one who may follow the flow.
func (s *Service) Progress(ctx context.Context, flowID int) (*Progress, error) {
	f, parts, err := s.follow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	sort.SliceStable(parts, func(i, j int) bool {
		a, b := parts[i], parts[j]
		if a.Role != b.Role {
			return a.Role == participant.RoleSigner
		}
		if a.SignOrder != b.SignOrder {
			return a.SignOrder < b.SignOrder
		}
		return a.ID < b.ID
	})
	out := &Progress{Flow: f}
	for _, p := range parts {
		out.Parties = append(out.Parties, PartyProgress{
			ParticipantID: p.ID, Role: p.Role, Kind: p.Kind, Order: p.SignOrder, Name: p.Name,
			EnterpriseName: p.EnterpriseName, MaskedPhone: accounts.MaskPhone(p.Phone), Status: p.Status,
			ViewedAt: p.ViewedAt, SignedAt: p.SignedAt, DeclinedAt: p.DeclinedAt, DeclineReason: p.DeclineReason,
			LastRemindedAt: p.LastRemindedAt, Mine: isMine(p, v),
		})
	}
	return out, nil
}

// TrailEntry is one audit event of a flow as its trail shows it.
type TrailEntry struct {
	Seq  int64
	Time time.Time
	// Actor is who acted as the trail names them: a party's name, the
	// initiator's name or masked phone, or 系统.
	Actor     string
	ActorType audit.ActorType
	Action    audit.Action
	// Subject names what the event is about (a party, a document, the flow).
	SubjectType string
	SubjectID   int
	Subject     string
	// Reason is the revocation or decline reason, when the event has one.
	Reason string
	// IP is where the request came from; masked (203.0.*.*) unless the
	// viewer is the actor.
	IP       string
	Hash     string
	PrevHash string
}

// TrailPage is one page of a flow's trail, oldest first.
type TrailPage struct {
	Entries []TrailEntry
	// Next is the after of the next page; 0 on the last page.
	Next int64
}

// MaxTrailPage bounds one page of the trail.
const MaxTrailPage = 200

// Trail returns up to first events of the flow's trail after seq after
// (keyset pagination) for one who may follow it.
func (s *Service) Trail(ctx context.Context, flowID int, after int64, first int) (*TrailPage, error) {
	if after < 0 {
		return nil, errs.InvalidField("after", "分页参数不正确")
	}
	if first <= 0 || first > MaxTrailPage {
		return nil, errs.InvalidField("first", fmt.Sprintf("每页条数须在1到%d之间", MaxTrailPage))
	}
	f, parts, err := s.follow(ctx, flowID)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	page, err := audit.List(sys, s.db, audit.FlowChain(f.ID), after, first)
	if err != nil {
		return nil, err
	}
	docs, err := s.db.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).Select(flowdocument.FieldName).All(sys)
	if err != nil {
		return nil, err
	}
	ini, err := f.QueryInitiator().Only(sys)
	if err != nil {
		return nil, err
	}
	v := viewer.FromContext(ctx)
	names := newTrailNames(f, ini, parts, docs)
	out := &TrailPage{Next: page.Next}
	for _, e := range page.Events {
		te := TrailEntry{Seq: e.Seq, Time: e.CreatedAt, ActorType: audit.ActorType(e.ActorType), Action: audit.Action(e.Action),
			SubjectType: e.SubjectType, SubjectID: e.SubjectID, Hash: e.Hash, PrevHash: e.PrevHash}
		te.Actor = names.actor(e)
		te.Subject = names.subject(e.SubjectType, e.SubjectID)
		var payload struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(e.Payload), &payload) == nil {
			te.Reason = payload.Reason
		}
		if names.actorUser(e) == v.UserID {
			te.IP = e.IP
		} else {
			te.IP = MaskIP(e.IP)
		}
		out.Entries = append(out.Entries, te)
	}
	return out, nil
}

// trailNames turns the IDs of a flow's events into names.
type trailNames struct {
	flow      *ent.Flow
	initiator string
	users     map[int]string // bound user -> party name
	partUser  map[int]int    // participant -> bound user
	parts     map[int]string
	docs      map[int]string
}

func newTrailNames(f *ent.Flow, ini *ent.User, parts []*ent.Participant, docs []*ent.FlowDocument) *trailNames {
	n := &trailNames{flow: f, users: map[int]string{}, partUser: map[int]int{}, parts: map[int]string{}, docs: map[int]string{}}
	n.initiator = ini.Name
	if n.initiator == "" {
		n.initiator = accounts.MaskPhone(ini.Phone)
	}
	n.users[ini.ID] = n.initiator
	for _, p := range parts {
		name := p.Name
		if p.Kind == participant.KindEnterprise && p.EnterpriseName != "" {
			name = p.EnterpriseName + "（" + p.Name + "）"
		}
		n.parts[p.ID] = name
		if p.UserID != nil {
			n.partUser[p.ID] = *p.UserID
			if *p.UserID != ini.ID {
				n.users[*p.UserID] = name
			}
		}
	}
	for _, d := range docs {
		n.docs[d.ID] = d.Name
	}
	return n
}

// actorUser is the user behind an event's actor, or 0.
func (n *trailNames) actorUser(e *ent.AuditEvent) int {
	switch audit.ActorType(e.ActorType) {
	case audit.ActorUser:
		return e.ActorID
	case audit.ActorParticipant:
		return n.partUser[e.ActorID]
	}
	return 0
}

func (n *trailNames) actor(e *ent.AuditEvent) string {
	switch audit.ActorType(e.ActorType) {
	case audit.ActorUser:
		if name, ok := n.users[e.ActorID]; ok {
			return name
		}
	case audit.ActorParticipant:
		if name, ok := n.parts[e.ActorID]; ok {
			return name
		}
	case audit.ActorSystem:
		return "系统"
	}
	return e.ActorName
}

func (n *trailNames) subject(typ string, id int) string {
	switch typ {
	case "flow":
		return n.flow.Name
	case "participant":
		return n.parts[id]
	case "document":
		return n.docs[id]
	}
	return ""
}

// MaskIP hides the host part of an address: 203.0.*.* for IPv4, the first
// three groups for IPv6; "" stays "".
func MaskIP(ip string) string {
	if ip == "" {
		return ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "*"
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return strconv.Itoa(int(b[0])) + "." + strconv.Itoa(int(b[1])) + ".*.*"
	}
	groups := strings.Split(a.StringExpanded(), ":")
	return strings.Join(groups[:3], ":") + ":*"
}

// VerifyTrail checks the flow's hash chain (audit.Verify) for one who may
// follow it.
func (s *Service) VerifyTrail(ctx context.Context, flowID int) (audit.Report, error) {
	f, _, err := s.follow(ctx, flowID)
	if err != nil {
		return audit.Report{}, err
	}
	return audit.Verify(viewer.System(ctx), s.db, audit.FlowChain(f.ID))
}

// Update is one live update of a flow: what happened (an audit action, or
// KindSubscribed for the first update, or events.KindResync when updates may
// have been missed) and the flow's status after it. Clients refetch the
// progress or the trail.
type Update struct {
	FlowID    int
	Kind      string
	SubjectID int
	Status    flow.Status
	At        time.Time
}

// KindSubscribed is the kind of a subscription's first update: the flow's
// current status, sent once the subscription is live.
const KindSubscribed = "subscribed"

// WatchFlow streams the flow's updates to one who may follow it, starting
// with its current status (KindSubscribed), until ctx ends. The channel is
// closed when ctx ends, when the broker drops the subscriber for falling
// behind, or when the flow is deleted; the client then re-subscribes.
// Errors: Unauthenticated, NotFound (outsiders), Internal (no broker).
func (s *Service) WatchFlow(ctx context.Context, flowID int) (<-chan Update, error) {
	return WatchFlowAs(ctx, s, flowID, func(u Update) Update { return u })
}

// WatchFlowAs is WatchFlow delivering conv(update), so that an API layer
// gets its own type without a goroutine of its own per subscriber.
func WatchFlowAs[T any](ctx context.Context, s *Service, flowID int, conv func(Update) T) (<-chan T, error) {
	out := make(chan T, UpdateBuffer)
	err := s.WatchFlowFunc(ctx, flowID, func(u Update) bool {
		select {
		case out <- conv(u):
			return true
		default:
			return false
		}
	}, func() { close(out) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateBuffer is how many updates a subscriber's channel should hold.
const UpdateBuffer = 8

// WatchFlowFunc is WatchFlow for a transport that keeps the channel itself
// (server/gqlws.Stream): send gets each update — the first one, the flow's
// current status, before WatchFlowFunc returns — and must not block; when
// it returns false (the subscriber is behind) the watcher is dropped. done
// is called once the watch has ended, when ctx ends, the watcher is dropped
// or the flow deleted, and nothing is sent after it. send and done are
// called from the flow's hub, one at a time. An update's Kind other than
// KindSubscribed is the same for every watcher of the flow.
func (s *Service) WatchFlowFunc(ctx context.Context, flowID int, send func(Update) bool, done func()) error {
	if s.broker == nil {
		return errs.New(errs.Internal, "实时推送未配置")
	}
	f, _, err := s.follow(ctx, flowID)
	if err != nil {
		return err
	}
	send(Update{FlowID: f.ID, Kind: KindSubscribed, Status: f.Status, At: s.now()})
	w := &watcher{send: send, close: done}
	s.hubs.join(s, f, w)
	id := f.ID // not f: a watcher may live for hours, the loaded flow need not
	context.AfterFunc(ctx, func() { s.hubs.leave(id, w) })
	return nil
}

// Watching one flow: every watcher of a flow on this node shares one hub —
// one broker subscription, one goroutine and one re-read of the flow per
// event, whatever the number of watchers — so 10,000 people following one
// contract cost a channel each, not a goroutine and a query each. A watcher
// whose channel is full when an update comes is dropped (its channel
// closed), never waited for; so is every watcher when the broker drops the
// hub itself.

// watcher is one subscriber of a flow hub. send never blocks.
type watcher struct {
	send  func(Update) bool
	close func()
}

type flowHub struct {
	id      int
	cancel  func()
	mu      sync.Mutex
	members map[*watcher]struct{}
}

type hubs struct {
	mu sync.Mutex
	m  map[int]*flowHub
}

// join adds w to flow f's hub, starting the hub when it is the first.
func (hs *hubs) join(s *Service, f *ent.Flow, w *watcher) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m == nil {
		hs.m = map[int]*flowHub{}
	}
	h := hs.m[f.ID]
	if h == nil {
		ctx, cancel := context.WithCancel(context.Background())
		evs, stop := s.broker.Subscribe(ctx, events.FlowTopic(f.ID))
		h = &flowHub{id: f.ID, members: map[*watcher]struct{}{}, cancel: func() { stop(); cancel() }}
		hs.m[f.ID] = h
		go hs.run(s, h, f.Status, evs)
	}
	h.mu.Lock()
	h.members[w] = struct{}{}
	h.mu.Unlock()
}

// leave removes w (when still there) and stops the hub after its last
// watcher.
func (hs *hubs) leave(flowID int, w *watcher) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	h := hs.m[flowID]
	if h == nil {
		return
	}
	h.mu.Lock()
	if _, ok := h.members[w]; ok {
		delete(h.members, w)
		w.close()
	}
	empty := len(h.members) == 0
	h.mu.Unlock()
	if empty {
		delete(hs.m, flowID)
		h.cancel()
	}
}

// run re-reads the flow after each event and hands the update to every
// watcher, until the broker closes the subscription (the last watcher left,
// the hub fell behind, or the broker closed) or the flow is deleted.
func (hs *hubs) run(s *Service, h *flowHub, status flow.Status, evs <-chan events.Event) {
	defer func() {
		hs.mu.Lock()
		if hs.m[h.id] == h {
			delete(hs.m, h.id)
		}
		hs.mu.Unlock()
		h.cancel()
		h.mu.Lock()
		for w := range h.members {
			delete(h.members, w)
			w.close()
		}
		h.mu.Unlock()
	}()
	for ev := range evs {
		st, gone, err := s.flowStatus(h.id)
		if err != nil {
			s.log.Warn("flows: re-read for watchers", "flow", h.id, "err", err)
		} else if !gone {
			status = st
		}
		u := Update{FlowID: h.id, Kind: ev.Kind, SubjectID: ev.ID, Status: status, At: s.now()}
		h.mu.Lock()
		for w := range h.members {
			if !w.send(u) {
				delete(h.members, w)
				w.close()
			}
		}
		h.mu.Unlock()
		if gone {
			return
		}
	}
}

// flowStatus re-reads a flow's status; gone when it was deleted.
func (s *Service) flowStatus(id int) (flow.Status, bool, error) {
	ctx, cancel := context.WithTimeout(viewer.System(context.Background()), 10*time.Second)
	defer cancel()
	f, err := s.db.Flow.Query().Where(flow.ID(id)).Select(flow.FieldStatus).Only(ctx)
	if ent.IsNotFound(err) {
		return "", true, nil
	}
	if err != nil {
		return "", false, err
	}
	return f.Status, false, nil
}

// AllLists are the seven lists, in the manual's order.
var AllLists = []List{ListTodo, ListDrafts, ListDone, ListInitiated, ListCC, ListCompleted, ListVoided}

// WatchLists streams the sizes of the viewer's seven lists: first as they
// are, then whenever they change, until ctx ends. Events that arrive while a
// count is being made are folded into the next count. The channel closes
// when ctx ends or the broker drops the subscriber; the client then
// re-subscribes. Errors: Unauthenticated, Internal (no broker).
func (s *Service) WatchLists(ctx context.Context) (<-chan Counts, error) {
	return WatchListsAs(ctx, s, func(c Counts) Counts { return c })
}

// WatchListsAs is WatchLists delivering conv(counts).
func WatchListsAs[T any](ctx context.Context, s *Service, conv func(Counts) T) (<-chan T, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if s.broker == nil {
		return nil, errs.New(errs.Internal, "实时推送未配置")
	}
	evs, cancel := s.broker.Subscribe(ctx, events.UserTopic(v.UserID))
	first, err := s.CountLists(ctx, AllLists...)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan T, 1)
	out <- conv(first)
	go func() {
		defer close(out)
		defer cancel()
		last := first
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-evs:
				if !ok {
					return
				}
			}
		drain: // fold a burst of events into one count
			for {
				select {
				case _, ok := <-evs:
					if !ok {
						return
					}
				default:
					break drain
				}
			}
			c, err := s.CountLists(ctx, AllLists...)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.log.Warn("flows: recount lists for a subscriber", "user", v.UserID, "err", err)
				continue
			}
			if sameCounts(c, last) {
				continue
			}
			last = c
			select {
			case out <- conv(c):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func sameCounts(a, b Counts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}
