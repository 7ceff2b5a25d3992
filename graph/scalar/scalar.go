// Package scalar holds Signet's GraphQL scalar mappings whose input errors
// must read as bad input (INVALID_ARGUMENT with a Chinese message), not as
// internal errors.
package scalar

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"

	"signet/errs"
)

// MarshalIntID writes an ent ID as a GraphQL ID (a JSON string).
func MarshalIntID(i int) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(strconv.Itoa(i)))
	})
}

// UnmarshalIntID reads a GraphQL ID given as a string or an integer.
func UnmarshalIntID(v any) (int, error) {
	bad := errs.InvalidField("id", "ID格式不正确")
	switch v := v.(type) {
	case string:
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return 0, bad
		}
		return i, nil
	case int:
		return v, nil
	case int64:
		return int(v), nil
	case json.Number:
		i, err := strconv.Atoi(string(v))
		if err != nil || i < 0 {
			return 0, bad
		}
		return i, nil
	case float64:
		if v != float64(int(v)) || v < 0 {
			return 0, bad
		}
		return int(v), nil
	default:
		return 0, errs.Wrap(fmt.Errorf("id of type %T", v), errs.Invalid, "ID格式不正确")
	}
}
