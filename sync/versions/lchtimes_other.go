//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package versions

import "time"

// lchtimes is a no-op here: restored symlinks get the current time as
// their modification time.
func lchtimes(path string, mtime time.Time) error { return nil }
