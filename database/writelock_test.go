package database

import "testing"

func TestWrites(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":          false,
		"  select * from t": false,
		"-- name: JobList :many\nSELECT * FROM river_job": false,
		"/* x */ SELECT 1":                     false,
		"WITH a AS (SELECT 1) SELECT * FROM a": false,
		"EXPLAIN QUERY PLAN SELECT 1":          false,
		"PRAGMA table_info(t)":                 false,
		"VALUES (1)":                           false,
		"INSERT INTO t VALUES (1)":             true,
		"-- name: JobGetAvailable :many\nUPDATE river_job SET state = 'running' RETURNING *": true,
		"delete from t": true,
		"WITH x AS (SELECT 1) UPDATE t SET v = 1": true,
		"REPLACE INTO t VALUES (1)":               true,
		"CREATE TABLE t (id INTEGER)":             true,
		"-- only a comment":                       false,
	} {
		if got := writes(q); got != want {
			t.Errorf("writes(%q) = %v, want %v", q, got, want)
		}
	}
}
