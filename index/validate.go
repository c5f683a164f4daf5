package index

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shoalsync/shoal/transport/wire"
)

// ErrInvalid marks a record or argument the index refuses to store.
var ErrInvalid = errors.New("index: invalid record")

// Limits on what the index stores. Peers are not trusted, so everything
// that becomes part of a key is bounded.
const (
	MaxNameLen     = 4096 // bytes of a record name
	MaxHashLen     = 64   // bytes of a block hash or blocks hash
	maxFolderIDLen = 1024
)

// ValidName reports whether name is a relative, slash-separated path the
// index accepts: not empty, valid UTF-8 without NUL, no leading or trailing
// slash, no empty, "." or ".." element, at most MaxNameLen bytes.
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: name of %d bytes", ErrInvalid, len(name))
	case !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: name %q is not clean UTF-8", ErrInvalid, name)
	}
	for elem := range strings.SplitSeq(name, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return fmt.Errorf("%w: name %q has element %q", ErrInvalid, name, elem)
		}
	}
	return nil
}

// validateInfo checks a record before it is stored and after it is read.
func validateInfo(fi *wire.FileInfo) error {
	if fi == nil {
		return fmt.Errorf("%w: nil record", ErrInvalid)
	}
	if err := ValidName(fi.Name); err != nil {
		return err
	}
	bad := func(what string, v any) error {
		return fmt.Errorf("%w: %q: %s %v", ErrInvalid, fi.Name, what, v)
	}
	switch {
	case fi.Type < wire.FileType_FILE_TYPE_FILE || fi.Type > wire.FileType_FILE_TYPE_SYMLINK:
		return bad("type", fi.Type)
	case fi.Size < 0:
		return bad("size", fi.Size)
	case fi.Permissions > 0o7777:
		return bad("permissions", fi.Permissions)
	case fi.ModifiedNs < 0 || fi.ModifiedNs >= 1e9:
		return bad("modified_ns", fi.ModifiedNs)
	case fi.Sequence < 0:
		return bad("sequence", fi.Sequence)
	case len(fi.BlocksHash) > MaxHashLen:
		return bad("blocks hash length", len(fi.BlocksHash))
	case len(fi.SymlinkTarget) > MaxNameLen:
		return bad("symlink target length", len(fi.SymlinkTarget))
	}
	cs := counters(fi.Version)
	for i, c := range cs {
		if c == nil || (i > 0 && (cs[i-1] == nil || c.Id <= cs[i-1].Id)) {
			return bad("version vector not sorted at", i)
		}
	}
	for i, b := range fi.Blocks {
		if b == nil || len(b.Hash) == 0 || len(b.Hash) > MaxHashLen || b.Offset < 0 || b.Size < 0 {
			return bad("block", i)
		}
	}
	return nil
}
