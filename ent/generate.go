// Package ent is the generated data access layer. Only ent/schema, template
// (and entc.go, generate.go) are hand-written; every other file is produced by
// `go generate ./...` and must not be edited.
package ent

//go:generate go run entc.go
