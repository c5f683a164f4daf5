//go:build !linux

package model

import "os"

// syncFS is not available here; callers fsync each file instead.
func syncFS(*os.File) (bool, error) { return false, nil }
