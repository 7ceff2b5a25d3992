package enterprises

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"signet/certs"
	"signet/database"
	"signet/ent"
	"signet/ent/certificate"
	entseal "signet/ent/seal"
	"signet/viewer"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

// sealForSigningSQL reads a seal, without its PNG, with the certificate
// bound to it (the columns certs.SignerOf reads): one statement where the signing pipeline sent two (the seal
// checked here, then the certificate read by certs.Signer). Built once per
// dialect; its one argument is the seal's ID.
var sealForSigningSQL = map[string]string{
	dialect.SQLite:   buildSealForSigning(dialect.SQLite),
	dialect.Postgres: buildSealForSigning(dialect.Postgres),
}

func buildSealForSigning(d string) string {
	s, c := entsql.Table(entseal.Table).As("s"), entsql.Table(certificate.Table).As("c")
	var cols []string
	for _, col := range sealSigningFields() {
		cols = append(cols, s.C(col))
	}
	for _, col := range certs.SignerColumns {
		cols = append(cols, c.C(col))
	}
	q, _ := entsql.Dialect(d).Select(cols...).From(s).
		LeftJoin(c).On(s.C(entseal.FieldCertificateID), c.C(certificate.FieldID)).
		Where(entsql.EQ(s.C(entseal.FieldID), 0)).Query()
	return q
}

// sealSigningFields are the seal's columns but its PNG.
func sealSigningFields() []string {
	return slices.DeleteFunc(slices.Clone(entseal.Columns), func(c string) bool { return c == entseal.FieldImage })
}

// SealForSigning reads a seal for a signature: with its certificate in
// Edges.Certificate (nil when it has none; only certs.SignerColumns), and without its PNG when it
// carries its encoding for signatures (pades.EncodeAppearance), which is
// all a signature needs — the PNG is half the row. It checks nothing: a
// caller checks the seal's use (CanUseSeal does) and the certificate
// (certs.SignerOf). ent's NotFound when there is no such seal.
func SealForSigning(ctx context.Context, db *database.DB, sealID int) (*ent.Seal, error) {
	query, ok := sealForSigningSQL[db.Dialect]
	if !ok {
		return nil, fmt.Errorf("seal for signing: unsupported database %q", db.Dialect)
	}
	sys := viewer.System(ctx)
	scols := sealSigningFields()
	rows, err := db.Client.QueryContext(sys, query, sealID)
	if err != nil {
		return nil, fmt.Errorf("seal for signing: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("seal for signing: %w", err)
		}
		return nil, &ent.NotFoundError{}
	}
	sv, err := db.Client.Seal.ScanValues(scols)
	if err != nil {
		return nil, err
	}
	cv, err := db.Client.Certificate.ScanValues(certs.SignerColumns)
	if err != nil {
		return nil, err
	}
	if err := rows.Scan(append(sv, cv...)...); err != nil {
		return nil, fmt.Errorf("seal for signing: scan: %w", err)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("seal for signing: %w", err)
	}
	sl, err := db.Client.Seal.FromValues(scols, sv)
	if err != nil {
		return nil, err
	}
	if id, ok := cv[0].(*sql.NullInt64); ok && id.Valid {
		if sl.Edges.Certificate, err = db.Client.Certificate.FromValues(certs.SignerColumns, cv); err != nil {
			return nil, err
		}
	}
	if len(sl.Appearance) == 0 {
		img, err := db.Client.Seal.Query().Where(entseal.ID(sealID)).Select(entseal.FieldImage).Only(sys)
		if err != nil {
			return nil, err
		}
		sl.Image = img.Image
	}
	return sl, nil
}
