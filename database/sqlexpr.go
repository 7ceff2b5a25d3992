package database

import entsql "entgo.io/ent/dialect/sql"

// ByID is a CASE expression on the id column that gives each row of ids its
// value of vals, cast to typ (an SQL type both PostgreSQL and SQLite know:
// BIGINT, TEXT): one UPDATE sets a different value on each of several rows
// (vals[i] for ids[i]), where one statement per row would be a round trip
// each on PostgreSQL. The cast gives PostgreSQL the parameter's type, which
// it cannot infer inside a CASE.
//
//	u.Set("seq", database.ByID(ids, seqs, "BIGINT"))
func ByID[T any](ids []int, vals []T, typ string) entsql.Querier {
	return entsql.ExprFunc(func(b *entsql.Builder) {
		b.WriteString("CASE ").Ident("id")
		for i, id := range ids {
			b.WriteString(" WHEN ").Arg(id).WriteString(" THEN CAST(").Arg(vals[i]).WriteString(" AS " + typ + ")")
		}
		b.WriteString(" END")
	})
}
