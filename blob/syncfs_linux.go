package blob

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// haveSyncFS: PutContents syncs the file system once per batch.
const haveSyncFS = true

// syncFS flushes the file system holding the store (syncfs(2)): every
// file written and renamed before it is durable after it.
func (d *Disk) syncFS() error {
	f, err := d.root.Open(".")
	if err != nil {
		return fmt.Errorf("blob: sync: %w", err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("blob: sync: %w", err)
	}
	return nil
}
