package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"signet/internal/apitest"
	"signet/internal/dbtest"
)

// BenchmarkMe compares the GraphQL `me` query through the whole stack
// (router, middleware, session lookup, gqlgen, ent with privacy rules) with
// two bare net/http baselines on the same loopback client: a handler that
// writes constant JSON, and one that does the same two SQL lookups (session
// by token hash, then the user) with database/sql. See docs/benchmarks.md.
func BenchmarkMe(b *testing.B) {
	for _, kind := range dbtest.Kinds {
		b.Run(kind, func(b *testing.B) {
			s := apitest.Start(b, dbtest.New(b, kind), apitest.Options{})
			token := s.Register(phoneA, passA)
			client := s.HTTP.Client()
			body := []byte(`{"query":"{ me { id phone maskedPhone } }"}`)
			post := func(url string) {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(out, []byte(phoneA)) {
					b.Fatalf("%d %s", resp.StatusCode, out)
				}
			}
			b.Run("graphql", func(b *testing.B) {
				for b.Loop() {
					post(s.URL + "/graphql")
				}
			})
			b.Run("bare-json", func(b *testing.B) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"data":{"me":{"id":"1","phone":"` + phoneA + `","maskedPhone":"138****8000"}}}`))
				}))
				defer srv.Close()
				for b.Loop() {
					post(srv.URL)
				}
			})
			b.Run("bare-sql", func(b *testing.B) {
				db := s.App.DB.SQL
				q := rebind(s.App.DB.Dialect, `SELECT u.id, u.phone FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.revoked_at IS NULL`)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
					sum := sha256.Sum256([]byte(tok))
					var id int
					var phone string
					if err := db.QueryRowContext(r.Context(), q, sum[:]).Scan(&id, &phone); err != nil {
						http.Error(w, err.Error(), 500)
						return
					}
					w.Header().Set("Content-Type", "application/json")
					_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"me": map[string]any{"id": id, "phone": phone}}})
				}))
				defer srv.Close()
				for b.Loop() {
					post(srv.URL)
				}
			})
		})
	}
}

func rebind(dialect, q string) string {
	if dialect != "postgres" {
		return q
	}
	var sb strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			sb.WriteString("$" + string(rune('0'+n)))
			continue
		}
		sb.WriteRune(c)
	}
	return sb.String()
}
