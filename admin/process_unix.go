//go:build unix

package admin

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with this ID exists. A process we
// may not signal (EPERM) exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
