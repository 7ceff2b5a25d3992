package flows

import (
	"context"
	"fmt"

	"entgo.io/ent/dialect/sql"

	"signet/ent"
	"signet/ent/flow"
)

// totalColumn carries a list's size on every row of a counted list query.
const totalColumn = "list_total"

// CountedListQuery is ListQuery whose rows also carry the size of the whole
// list (filter applied, cursors not), read with ListTotal. A page and its
// total count are then one SQL statement: the count is an uncorrelated
// scalar subquery the database evaluates once. This is how a list request
// stays within its statement budget (see docs/benchmarks.md, "contracts").
//
// A page that comes back empty carries no total; the caller counts with
// ListQuery then (it also has no rows whose parties to load).
func (s *Service) CountedListQuery(ctx context.Context, list List, f Filter) (*ent.FlowQuery, error) {
	where, err := s.listWhere(ctx, list, f)
	if err != nil {
		return nil, err
	}
	q := s.db.Flow.Query().Where(where...)
	q.Modify(func(sel *sql.Selector) {
		// Inside the subquery "flows" names its own table, so the list's
		// predicates (written against "flows") apply to it unchanged.
		c := sql.Dialect(sel.Dialect()).Select(sql.Count("*")).From(sql.Table(flow.Table))
		for _, p := range where {
			p(c)
		}
		sel.AppendSelectExprAs(c, totalColumn)
	})
	return q, nil
}

// ListTotal returns the list size carried by rows of a CountedListQuery;
// false when there are no rows (or they did not come from one).
func ListTotal(rows []*ent.Flow) (int, bool) {
	if len(rows) == 0 {
		return 0, false
	}
	v, err := rows[0].Value(totalColumn)
	if err != nil {
		return 0, false
	}
	if u, ok := v.(*sql.UnknownType); ok {
		v = *u
	}
	switch n := v.(type) {
	case int64:
		return int(n), true
	case int:
		return n, true
	case int32:
		return int(n), true
	case []byte:
		var i int
		_, err := fmt.Sscan(string(n), &i)
		return i, err == nil
	}
	return 0, false
}
