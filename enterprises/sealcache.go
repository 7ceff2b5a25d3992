package enterprises

import (
	"context"
	"time"

	"signet/ent"
	"signet/events"
	"signet/internal/kept"
)

// A signature reads its seal with the seal's certificate (SealForSigning):
// the sealing image and the certificate, about ten pages on SQLite, read
// again after every other commit has reset the connection's page cache.
// sendIntentCode read the same seal seconds before. The node keeps what it
// read for sealCacheTTL.
//
// What decides whether the viewer may use the seal is checked on every use,
// from the kept rows: the owner, the status, the certificate's status and
// end (certs.SignerOf), and for an enterprise's seal the membership and the
// grants, which are not kept but read each time. The kept rows are dropped
// when they change: every update or deletion of a seal or a certificate
// through ent (the hook below, on every client of this database) drops
// them on this node once its transaction commits, before the request
// answers, and on the other nodes through the events broker (sealsTopic),
// which WatchSeals listens to. A node keeps seals only while it listens; a
// read that began before a change is not kept. What could still be missed
// — a node that crashed between its commit and its publish, or a process
// that is not a server (the command line) — lasts at most sealCacheTTL.
type sealCache = kept.Map[int, keptSeal]

// keptSeal is a seal as SealForSigning read it, with its certificate.
type keptSeal struct {
	seal ent.Seal
	cert *ent.Certificate
}

// sealCacheTTL is how long a node keeps a seal it read.
const sealCacheTTL = 30 * time.Second

// sealsTopic carries, on every node, the seals whose rows changed
// (Event.ID is the seal, or 0 for all: a certificate changed, or several
// seals).
const sealsTopic = "enterprises:seals"

// kindSealsChanged is the event of seals whose rows changed.
const kindSealsChanged = "seals.changed"

func keepSeal(sl *ent.Seal) keptSeal {
	k := keptSeal{seal: *sl, cert: sl.Edges.Certificate}
	if k.cert != nil {
		c := *k.cert
		k.cert = &c
	}
	return k
}

// get returns a copy for the caller (the bytes are shared: nobody writes
// them).
func (k keptSeal) get() *ent.Seal {
	sl := k.seal
	if k.cert != nil {
		c := *k.cert
		sl.Edges.Certificate = &c
	}
	return &sl
}

// sealForSigning is SealForSigning through the node's kept seals.
func (s *Service) sealForSigning(ctx context.Context, sealID int) (*ent.Seal, error) {
	now := s.now()
	if k, ok := s.keptSeals.Get(sealID, now); ok {
		return k.get(), nil
	}
	gen := s.keptSeals.Generation()
	sl, err := SealForSigning(ctx, s.database, sealID)
	if err != nil {
		return nil, err
	}
	s.keptSeals.Put(sealID, keepSeal(sl), gen, now, now.Add(sealCacheTTL))
	return sl, nil
}

// WatchSeals lets this node keep the seals it reads for signing, for as
// long as it listens to the other nodes' seal changes; it returns when ctx
// ends.
func (s *Service) WatchSeals(ctx context.Context) {
	events.Watch(ctx, s.events, sealsTopic, s.keptSeals.Listening, func(ev events.Event) {
		if ev.Kind == kindSealsChanged {
			s.dropSeal(ev.ID)
		}
	})
}

// dropSeal forgets the kept seal id, or all for 0.
func (s *Service) dropSeal(id int) {
	if id == 0 {
		s.keptSeals.Drop(nil)
		return
	}
	s.keptSeals.Drop(func(k int, _ keptSeal) bool { return k == id })
}

// sealsChanged drops the seal (0: all) on this node and tells the others.
func (s *Service) sealsChanged(ctx context.Context, id int) {
	s.dropSeal(id)
	err := s.events.Publish(context.WithoutCancel(ctx), events.Event{Topic: sealsTopic, Kind: kindSealsChanged, ID: id})
	if err != nil {
		s.log.WarnContext(ctx, "publish seal change", "err", err)
	}
}

// dropSealsOnChange is the hook on seals and certificates: after an update
// or a deletion commits (at once outside a transaction), the seal changed —
// or, for a certificate or several seals, all — is dropped.
func (s *Service) dropSealsOnChange(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		v, err := next.Mutate(ctx, m)
		if err != nil || m.Op().Is(ent.OpCreate) {
			return v, err
		}
		id := 0
		if sm, ok := m.(*ent.SealMutation); ok && m.Op().Is(ent.OpUpdateOne|ent.OpDeleteOne) {
			id, _ = sm.ID()
		}
		tx, terr := m.(interface{ Tx() (*ent.Tx, error) }).Tx()
		if terr != nil {
			s.sealsChanged(ctx, id)
			return v, nil
		}
		events.OnCommitted(tx, func(context.Context) { s.sealsChanged(ctx, id) })
		return v, nil
	})
}
