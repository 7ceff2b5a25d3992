// Package pdfcpuconf keeps pdfcpu off its configuration directory.
//
// pdfcpu keeps the directory's location in a package variable
// (model.ConfigPath), read by model.NewDefaultConfiguration and others.
// signingcore set it to "disable" before each use, from every goroutine
// that parsed a PDF: a write racing the reads of the other goroutines
// (go test -race, a signature's evidence built while another node's test
// verified a download). Now it is written once per process, before any
// use returns from Ready.
package pdfcpuconf

import (
	"sync"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// once guards pdfcpu's own package variable, the one process-wide state
// here: pdfcpu offers no other way to leave its directory alone.
var once sync.Once

// Ready turns pdfcpu's configuration directory off, the first time it is
// called; call it before any use of pdfcpu.
func Ready() { once.Do(api.DisableConfigDir) }

// Default returns pdfcpu's default configuration, with the directory off.
func Default() *model.Configuration {
	Ready()
	return model.NewDefaultConfiguration()
}
