//go:build !linux

package fsutil

// RenameNoReplace renames oldpath to newpath, failing with ErrExists if
// newpath exists. Here the check and the rename are two steps.
func RenameNoReplace(oldpath, newpath string) error { return renameIfAbsent(oldpath, newpath) }
