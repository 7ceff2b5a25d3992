// Package pdftypes holds small value types stored in ent JSON fields. It is
// separate from ent/schema so generated code can import it without a cycle.
package pdftypes

// PageSize is one page's displayed size in PDF points, after rotation.
type PageSize struct {
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}
