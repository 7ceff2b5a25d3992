//go:build ignore

// entc.go runs ent's code generator with the entgql extension. It is invoked
// by `go generate` from ent/generate.go.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("../graph/ent.graphql"),
		entgql.WithWhereInputs(true),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureModifier,
			gen.FeatureExecQuery,
			gen.FeatureIntercept,
			gen.FeatureGlobalID,
		},
	}, entc.Extensions(ex), entc.TemplateFiles("template/scan.tmpl"))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
