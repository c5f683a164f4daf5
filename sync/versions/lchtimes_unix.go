//go:build linux || darwin || freebsd || netbsd || openbsd

package versions

import (
	"time"

	"golang.org/x/sys/unix"
)

// lchtimes sets the modification time of path without following a
// symlink at path (the access time is set to the same value).
func lchtimes(path string, mtime time.Time) error {
	t := unix.NsecToTimespec(mtime.UnixNano())
	ts := []unix.Timespec{t, t}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
}
