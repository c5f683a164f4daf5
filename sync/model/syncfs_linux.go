package model

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes the whole file system holding f (syncfs(2)).
func syncFS(f *os.File) (bool, error) {
	return true, unix.Syncfs(int(f.Fd()))
}
