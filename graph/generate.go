package graph

// gqlgen resolves output paths from the working directory, so run it from the
// module root where gqlgen.yml lives.
//go:generate sh -c "cd .. && go tool gqlgen generate --config gqlgen.yml"
