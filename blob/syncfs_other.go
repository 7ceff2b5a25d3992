//go:build !linux

package blob

import "errors"

// haveSyncFS: without syncfs(2), PutContents syncs blob by blob.
const haveSyncFS = false

func (d *Disk) syncFS() error { return errors.New("blob: syncfs is not available on this system") }
