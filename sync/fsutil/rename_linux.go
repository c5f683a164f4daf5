package fsutil

import (
	"errors"

	"golang.org/x/sys/unix"
)

// RenameNoReplace renames oldpath to newpath, failing with ErrExists if
// newpath exists, atomically (renameat2 RENAME_NOREPLACE).
func RenameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		return ErrExists
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) { // file system without the flag
		return renameIfAbsent(oldpath, newpath)
	}
	return err
}
