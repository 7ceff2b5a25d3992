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

func TestSetsPragma(t *testing.T) {
	for q, want := range map[string]bool{
		"PRAGMA foreign_keys = off": true,
		"  pragma foreign_keys=ON":  true,
		"PRAGMA cache_size(-4000)":  true,
		"PRAGMA foreign_keys":       false,
		"PRAGMA foreign_key_check":  false,
		"SELECT 1 = 1":              false,
		"UPDATE t SET v = 1":        false,
	} {
		if got := setsPragma(q); got != want {
			t.Errorf("setsPragma(%q) = %v, want %v", q, got, want)
		}
	}
}
