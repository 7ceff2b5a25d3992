// Package graph is Signet's GraphQL API. The *.graphql files are the
// contract; resolvers are thin: they decode arguments, call one domain method
// (or one ent query, which the privacy rules guard) and return. Rules live in
// the domain packages.
//
// resolver.go is the one place resolvers get their dependencies from.
package graph

import (
	"github.com/99designs/gqlgen/graphql"

	"signet/accounts"
	"signet/contacts"
	"signet/ent"
	"signet/enterprises"
	"signet/flows"
	"signet/identity"
	"signet/pairing"
)

// Resolver holds the dependencies of all resolvers.
type Resolver struct {
	DB        *ent.Client
	Accounts  *accounts.Service
	Contracts *flows.Service
	// Identity is personal real-name verification.
	Identity *identity.Service
	// Enterprises is certification, joining, spaces and the console.
	Enterprises *enterprises.Service
	// ContactBook is the user's contacts and groups (联系人管理).
	ContactBook *contacts.Service
	// Pairing is QR handwriting capture and personal seals (USR-1, USR-3).
	Pairings *pairing.Service
}

// NewSchema returns the executable schema backed by r.
func NewSchema(r *Resolver) graphql.ExecutableSchema {
	return NewExecutableSchema(Config{Resolvers: r})
}
