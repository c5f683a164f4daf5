// Package fsutil holds the small file-system helpers the scanner and the
// puller share: opening without following symlinks, checking that a path
// inside a folder does not pass through a symlink, and the names of
// Shoal's own files inside a folder.
package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// LocalIgnoreFile holds this device's own ignore rules at the folder root.
// It is never synced (the shared rules are in .shoalignore, which is).
const LocalIgnoreFile = ".shoalignore.local"

// Internal reports whether a folder-relative, slash-separated path is one
// of Shoal's own files, which are never scanned, synced or watched: a path
// with a component named ".shoal" (the folder state directory) or a
// component starting with ".shoal-tmp." (the puller's temporary files), and
// the per-device ignore file .shoalignore.local at the root.
func Internal(rel string) bool {
	if rel == LocalIgnoreFile {
		return true
	}
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

// OpenTemp opens or creates a temporary file for writing, failing if the
// path is a symlink.
func OpenTemp(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
}

// Native converts a slash-separated relative name to a path under root.
func Native(root, rel string) string {
	return filepath.Join(root, filepath.FromSlash(rel))
}

// ErrExists is returned by RenameNoReplace when the target exists.
var ErrExists = errors.New("target exists")

// SameContent reports whether two regular files (opened without following
// symlinks) have the same size and bytes, reading both in bounded chunks.
func SameContent(a, b string) (bool, error) {
	fa, err := OpenNoFollow(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := OpenNoFollow(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	sa, err := fa.Stat()
	if err != nil {
		return false, err
	}
	sb, err := fb.Stat()
	if err != nil {
		return false, err
	}
	if !sa.Mode().IsRegular() || !sb.Mode().IsRegular() || sa.Size() != sb.Size() {
		return false, nil
	}
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			return (errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF)) && (errors.Is(eb, io.EOF) || errors.Is(eb, io.ErrUnexpectedEOF)), nil
		}
	}
}

func renameIfAbsent(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return ErrExists
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(oldpath, newpath)
}

// SyncDir fsyncs a directory, making renames and creations in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
