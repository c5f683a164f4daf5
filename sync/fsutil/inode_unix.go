//go:build unix

package fsutil

import (
	"io/fs"
	"syscall"
)

// Inode returns the inode number of a file, or 0 where unknown.
func Inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
