package app

import (
	"os"
	"path/filepath"
)

// ukeyHelperDir is where `make ukey` puts the helper builds the server
// offers for download: bin/downloads beside bin/signet. Empty when the
// executable's folder cannot be found (the page then says the helper is not
// built).
func ukeyHelperDir() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(exe), "downloads")
}
