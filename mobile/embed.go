// Package mobile embeds the built H5 and PC client (mobile/dist) so one
// binary serves it. `make build` writes the client into dist before
// compiling Go; dist/.gitkeep keeps the folder so the embed compiles from a
// clean clone.
package mobile

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built client's files, rooted at dist/.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a literal embedded directory
	}
	return sub
}
