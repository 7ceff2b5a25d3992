package enterprises

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"signet/certs"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/membership"
	entseal "signet/ent/seal"
	"signet/ent/sealgrant"
	"signet/errs"
)

// A signature's seals are checked when it is planned (CanUseSeal, from the
// node's kept seals: sealcache.go) and the signature commits a moment
// later, after PAdES — for a UKey, after the user has been at the token.
// Meanwhile an administrator may have disabled or voided the seal, revoked
// its certificate or a member's grant, or removed the member, on this node
// or another whose news has not arrived yet. RecheckSeals checks it all
// again in the committing transaction, from the rows as they are, and the
// commit refuses a signature whose seal may no longer be used.
//
// It reads without locks, and that is enough: it runs after the signature
// was made (time-stamped), so a change committed before the signature is
// seen, and one committed after the check is after the signature too.

// SealCheck is one seal of a signature about to commit.
type SealCheck struct {
	// UserID is the signer.
	UserID int
	// SealID is the seal applied.
	SealID int
	// CertificateID is the certificate whose key signed, when it is the
	// seal's own (a hosted certificate, or the seal's UKey); 0 when the
	// signer's bound UKey signed for a personal seal: the seal's own
	// certificate is then not checked.
	CertificateID int
	// Scope is the signature's, for the grants.
	Scope Scope
}

// RecheckSeals checks checks at time at in tx (on database dialect d), in
// one statement, and returns for each check nil or why the seal may not be
// used now: the errors of CanUseSeal and certs.Signs, or Conflict when the
// seal is now bound to another certificate.
func RecheckSeals(ctx context.Context, tx *ent.Tx, d string, at time.Time, checks []SealCheck) ([]error, error) {
	if len(checks) == 0 {
		return nil, nil
	}
	var sealIDs, userIDs []int
	for _, c := range checks {
		if !slices.Contains(sealIDs, c.SealID) {
			sealIDs = append(sealIDs, c.SealID)
		}
		if !slices.Contains(userIDs, c.UserID) {
			userIDs = append(userIDs, c.UserID)
		}
	}
	s, c := entsql.Table(entseal.Table).As("s"), entsql.Table(certificate.Table).As("c")
	m, g := entsql.Table(membership.Table).As("m"), entsql.Table(sealgrant.Table).As("g")
	query, args := entsql.Dialect(d).
		Select(s.C(entseal.FieldID), s.C(entseal.FieldUserID), s.C(entseal.FieldEnterpriseID), s.C(entseal.FieldStatus),
			s.C(entseal.FieldCertificateID), c.C(certificate.FieldStatus), c.C(certificate.FieldNotAfter),
			m.C(membership.FieldUserID), m.C(membership.FieldRole),
			g.C(sealgrant.FieldID), g.C(sealgrant.FieldScenes), g.C(sealgrant.FieldCounterparties)).
		From(s).
		LeftJoin(c).On(c.C(certificate.FieldID), s.C(entseal.FieldCertificateID)).
		LeftJoin(m).OnP(entsql.And(entsql.ColumnsEQ(m.C(membership.FieldEnterpriseID), s.C(entseal.FieldEnterpriseID)),
		entsql.InInts(m.C(membership.FieldUserID), userIDs...))).
		LeftJoin(g).OnP(entsql.And(entsql.ColumnsEQ(g.C(sealgrant.FieldSealID), s.C(entseal.FieldID)),
		entsql.ColumnsEQ(g.C(sealgrant.FieldUserID), m.C(membership.FieldUserID)), entsql.IsNull(g.C(sealgrant.FieldRevokedAt)),
		entsql.LTE(g.C(sealgrant.FieldValidFrom), at), entsql.GT(g.C(sealgrant.FieldValidUntil), at))).
		Where(entsql.InInts(s.C(entseal.FieldID), sealIDs...)).Query()
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("recheck seals: %w", err)
	}
	defer rows.Close()
	type userSeal struct{ seal, user int }
	var (
		seals   = map[int]*ent.Seal{}
		certsOf = map[int]*ent.Certificate{}
		members = map[userSeal]*ent.Membership{}
		grants  = map[userSeal][]*ent.SealGrant{}
	)
	for rows.Next() {
		var (
			sl                        ent.Seal
			sealUser, sealEnt, certID sql.NullInt64
			certStatus, role          sql.NullString
			notAfter                  sql.NullTime
			memberUser, grantID       sql.NullInt64
			scenes, counterparties    []byte
		)
		if err := rows.Scan(&sl.ID, &sealUser, &sealEnt, &sl.Status, &certID, &certStatus, &notAfter,
			&memberUser, &role, &grantID, &scenes, &counterparties); err != nil {
			return nil, fmt.Errorf("recheck seals: scan: %w", err)
		}
		if _, ok := seals[sl.ID]; !ok {
			sl.UserID, sl.EnterpriseID, sl.CertificateID = nullInt(sealUser), nullInt(sealEnt), nullInt(certID)
			seals[sl.ID] = &sl
			if certID.Valid && certStatus.Valid {
				cert := &ent.Certificate{ID: int(certID.Int64), Status: certificate.Status(certStatus.String)}
				if notAfter.Valid {
					cert.NotAfter = &notAfter.Time
				}
				certsOf[sl.ID] = cert
			}
		}
		if !memberUser.Valid {
			continue
		}
		k := userSeal{sl.ID, int(memberUser.Int64)}
		members[k] = &ent.Membership{UserID: k.user, Role: membership.Role(role.String)}
		if grantID.Valid {
			gr := &ent.SealGrant{ID: int(grantID.Int64), SealID: sl.ID, UserID: k.user}
			if err := unmarshalStrings(scenes, &gr.Scenes); err != nil {
				return nil, err
			}
			if err := unmarshalStrings(counterparties, &gr.Counterparties); err != nil {
				return nil, err
			}
			grants[k] = append(grants[k], gr)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recheck seals: %w", err)
	}
	out := make([]error, len(checks))
	for i, ch := range checks {
		sl := seals[ch.SealID]
		if sl == nil {
			out[i] = errs.New(errs.NotFound, "印章不存在")
			continue
		}
		k := userSeal{ch.SealID, ch.UserID}
		if err := usableBy(sl, ch.UserID, members[k], grants[k], ch.Scope); err != nil {
			out[i] = err
			continue
		}
		if ch.CertificateID == 0 {
			continue
		}
		if *sl.CertificateID != ch.CertificateID {
			out[i] = errs.New(errs.Conflict, "印章绑定的证书已更换，请重新签署")
			continue
		}
		cert := certsOf[sl.ID]
		if cert == nil {
			out[i] = errs.New(errs.NotFound, "证书不存在")
			continue
		}
		out[i] = certs.Signs(cert, at)
	}
	return out, nil
}

func nullInt(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

// unmarshalStrings decodes a JSON list column (ent's field.Strings); NULL
// is an empty list.
func unmarshalStrings(b []byte, v *[]string) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("recheck seals: grant list: %w", err)
	}
	return nil
}

// RecheckSeals is the package's RecheckSeals on this service's database;
// a seal refused is also dropped from this node's kept seals, whose copy
// was older than the row (its news from another node has not arrived).
func (s *Service) RecheckSeals(ctx context.Context, tx *ent.Tx, at time.Time, checks []SealCheck) ([]error, error) {
	out, err := RecheckSeals(ctx, tx, s.database.Dialect, at, checks)
	for i, e := range out {
		if e != nil {
			s.dropSeal(checks[i].SealID)
		}
	}
	return out, err
}
