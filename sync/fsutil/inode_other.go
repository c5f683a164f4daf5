//go:build !unix

package fsutil

import "io/fs"

// Inode returns 0: inodes are not used on this platform.
func Inode(fi fs.FileInfo) uint64 { return 0 }
