package graph

import (
	"context"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"signet/ent"
)

// paginateCounted pages a flows.CountedListQuery with entgql's pager, but
// takes totalCount from the page's own rows instead of the separate COUNT
// statement Paginate would run, so a list request costs: the session (1),
// the page with its total (1), the parties of the page's flows (1, when
// asked for). count is the fallback for a page that came back empty.
func paginateCounted(ctx context.Context, q *ent.FlowQuery, count func() (int, error), rowsTotal func([]*ent.Flow) (int, bool),
	after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int, opts ...ent.FlowPaginateOption) (*ent.FlowConnection, error) {
	pctx, wantTotal := withoutTotal(ctx)
	conn, err := q.Paginate(pctx, after, first, before, last, opts...)
	if err != nil || !wantTotal {
		return conn, err
	}
	nodes := make([]*ent.Flow, len(conn.Edges))
	for i, e := range conn.Edges {
		nodes[i] = e.Node
	}
	if n, ok := rowsTotal(nodes); ok {
		conn.TotalCount = n
		return conn, nil
	}
	if conn.TotalCount, err = count(); err != nil {
		return nil, err
	}
	return conn, nil
}

// withoutTotal returns ctx with the connection field's totalCount and
// pageInfo selections hidden from ent's Paginate (either makes it count in
// a statement of its own; it computes pageInfo from the page regardless)
// and whether totalCount was asked for. The response is still built from
// the real selections.
func withoutTotal(ctx context.Context) (context.Context, bool) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return ctx, true
	}
	oc := graphql.GetOperationContext(ctx)
	want := false
	var keep ast.SelectionSet
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, nil) {
		switch f.Alias {
		case "totalCount":
			want = true
		case "pageInfo":
		default:
			cp := *f.Field
			cp.SelectionSet = f.Selections
			keep = append(keep, &cp)
		}
	}
	hidden := *fc
	hidden.Field.Selections = keep
	return graphql.WithFieldContext(ctx, &hidden), want
}
