// Package fsutil holds the small file-system helpers the scanner and the
// puller share: opening without following symlinks, checking that a path
// inside a folder does not pass through a symlink, and the names of
// Shoal's own files inside a folder.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// StateDir is the hidden per-folder state directory (folder marker). It is
// never synced.
const StateDir = ".shoal"

// TempPrefix starts the base name of the puller's temporary files.
const TempPrefix = ".shoal-tmp."

// Internal reports whether a folder-relative, slash-separated path is one
// of Shoal's own files, which are never scanned, synced or watched: a path
// with a component named ".shoal" (the folder state directory) or a
// component starting with ".shoal-tmp." (the puller's temporary files).
func Internal(rel string) bool {
	for rel != "" {
		var c string
		c, rel, _ = strings.Cut(rel, "/")
		if c == StateDir || strings.HasPrefix(c, TempPrefix) {
			return true
		}
	}
	return false
}

// ErrSymlinkInPath marks a path whose parent directory is a symlink (or not
// a directory), which sync must never write through.
var ErrSymlinkInPath = errors.New("path passes through a symlink or non-directory")

// CheckParents verifies that every parent directory of rel below root is a
// real directory (missing parents are fine: they will be created). It stops
// at the first missing component.
func CheckParents(root, rel string) error {
	parts := strings.Split(rel, "/")
	p := root
	for _, c := range parts[:len(parts)-1] {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s: %w", rel, ErrSymlinkInPath)
		}
	}
	return nil
}

// OpenNoFollow opens a file for reading and fails if it is a symlink.
func OpenNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
}

// Native converts a slash-separated relative name to a path under root.
func Native(root, rel string) string {
	return filepath.Join(root, filepath.FromSlash(rel))
}
