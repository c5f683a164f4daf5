package ignore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// File is the shared ignore file at a synced folder's root. It is synced
// like any other file.
const File = ".shoalignore"

// LocalFile is the per-device ignore file at a synced folder's root. It is
// never synced; its rules come after those of File and so take precedence.
const LocalFile = ".shoalignore.local"

// MaxFileSize is the largest ignore file accepted, in bytes. Larger files
// are refused with an error rather than partly applied.
const MaxFileSize = 1 << 20

// dirCacheSize is the number of slots of a Matcher's directory cache (a
// power of two).
const dirCacheSize = 1024

// Matcher decides which paths of a folder are ignored. It is built once by
// Parse or Load and not changed afterwards, so it is safe for concurrent
// use. A nil *Matcher matches nothing.
type Matcher struct {
	// files holds the rules that apply to files (those without a trailing
	// slash), dirs all rules, both in file order. Leading negative rules
	// are dropped from each: with nothing before them to re-include, they
	// cannot change a result.
	files, dirs ruleSet
	hash        [32]byte
	problems    []string

	// cache remembers, per directory, whether it or an ancestor is
	// ignored, so that asking about many paths in the same directory
	// checks the ancestors once. Slots are replaced whole and atomically;
	// a collision just costs a recomputation.
	seed  maphash.Seed
	cache [dirCacheSize]atomic.Pointer[dirEntry]
}

// dirEntry is one cached directory decision.
type dirEntry struct {
	dir     string
	ignored bool
}

// Parse builds a Matcher from the contents of the shared ignore file and of
// the local one (either may be nil). Patterns that can never match are
// skipped and described by Problems. The only error is input larger than
// MaxFileSize.
func Parse(shared, local []byte) (*Matcher, error) {
	if len(shared) > MaxFileSize {
		return nil, fmt.Errorf("parsing %s: %d bytes is over the limit of %d", File, len(shared), MaxFileSize)
	}
	if len(local) > MaxFileSize {
		return nil, fmt.Errorf("parsing %s: %d bytes is over the limit of %d", LocalFile, len(local), MaxFileSize)
	}
	var rules []rule
	var problems []string
	rules, problems = parseFile(shared, File, rules, problems)
	rules, problems = parseFile(local, LocalFile, rules, problems)
	m := &Matcher{
		hash:     digest(shared, local),
		problems: problems,
		seed:     maphash.MakeSeed(),
	}
	var files, dirs []rule
	for _, r := range rules {
		if !r.dirOnly && (!r.negate || len(files) > 0) {
			files = append(files, r)
		}
		if !r.negate || len(dirs) > 0 {
			dirs = append(dirs, r)
		}
	}
	m.files = newRuleSet(files)
	m.dirs = newRuleSet(dirs)
	return m, nil
}

// digest hashes both files' contents, each length-prefixed so that moving
// bytes from one file to the other changes the result.
func digest(shared, local []byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte("shoal ignore rules v1\x00"))
	binary.BigEndian.PutUint64(n[:], uint64(len(shared)))
	h.Write(n[:])
	h.Write(shared)
	binary.BigEndian.PutUint64(n[:], uint64(len(local)))
	h.Write(n[:])
	h.Write(local)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

var emptyDigest = digest(nil, nil)

// Load reads File and LocalFile from the folder root and parses them. A
// missing file counts as empty. A file that is a symbolic link, is not a
// regular file, or is larger than MaxFileSize is an error.
func Load(root string) (*Matcher, error) {
	shared, err := readIgnoreFile(filepath.Join(root, File))
	if err != nil {
		return nil, err
	}
	local, err := readIgnoreFile(filepath.Join(root, LocalFile))
	if err != nil {
		return nil, err
	}
	return Parse(shared, local)
}

// readIgnoreFile reads one ignore file without following a symbolic link.
// It returns nil, nil if the file does not exist.
func readIgnoreFile(name string) ([]byte, error) {
	lfi, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading ignore file: %w", err)
	}
	if err := checkIgnoreFileInfo(name, lfi); err != nil {
		return nil, err
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading ignore file: %w", err)
	}
	defer f.Close()
	// The file may have been swapped (for a symlink, say) since Lstat;
	// make sure we read the file we checked.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading ignore file: %w", err)
	}
	if !os.SameFile(lfi, fi) {
		return nil, fmt.Errorf("reading ignore file %s: it was replaced while being opened", name)
	}
	if err := checkIgnoreFileInfo(name, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading ignore file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("reading ignore file %s: over the limit of %d bytes", name, MaxFileSize)
	}
	return data, nil
}

func checkIgnoreFileInfo(name string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("reading ignore file %s: it is a symbolic link, which is not followed", name)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("reading ignore file %s: not a regular file (%v)", name, fi.Mode().Type())
	case fi.Size() > MaxFileSize:
		return fmt.Errorf("reading ignore file %s: %d bytes is over the limit of %d", name, fi.Size(), MaxFileSize)
	}
	return nil
}

// Match reports whether the path is ignored. rel is slash-separated and
// relative to the folder root, without a leading slash, ".." or empty
// elements; isDir says whether it names a directory. A path is ignored if
// the last rule matching it is not a negation, or if any of its parent
// directories is ignored: as in git, a path inside an ignored directory
// cannot be re-included.
func (m *Matcher) Match(rel string, isDir bool) bool {
	if m == nil || len(m.dirs.rules) == 0 || rel == "" {
		return false
	}
	if isDir {
		return m.dirIgnored(rel)
	}
	slash := strings.LastIndexByte(rel, '/')
	if slash >= 0 {
		// Files are not cached, and their parent is only looked up: a
		// walk has asked about the parent already, while paths asked
		// in no particular order would mostly replace cache entries
		// that are still useful.
		var ignored bool
		if !m.cached(rel[:slash], &ignored) {
			ignored = m.ancestorsIgnored(rel[:slash])
		}
		if ignored {
			return true
		}
	}
	return m.files.decide(rel, rel[slash+1:])
}

// MatchDir reports whether the directory rel is ignored; it is
// Match(rel, true). Everything below an ignored directory is ignored too, so
// a caller can skip the whole subtree.
func (m *Matcher) MatchDir(rel string) bool {
	return m.Match(rel, true)
}

// dirIgnored reports whether directory dir or one of its ancestors is
// ignored. It looks for dir, then for its parent, in the cache; without
// either it decides every ancestor afresh. Only dir's answer is stored: a
// walk asks about a directory before its contents, so the parent is usually
// cached already, while storing every ancestor of paths asked in no
// particular order would mostly replace entries still in use.
func (m *Matcher) dirIgnored(dir string) bool {
	slot := &m.cache[maphash.String(m.seed, dir)&(dirCacheSize-1)]
	if e := slot.Load(); e != nil && e.dir == dir {
		return e.ignored
	}
	slash := strings.LastIndexByte(dir, '/')
	var ignored bool
	switch {
	case slash < 0:
	case m.cached(dir[:slash], &ignored):
	default:
		ignored = m.ancestorsIgnored(dir[:slash])
	}
	if !ignored {
		ignored = m.dirs.decide(dir, dir[slash+1:])
	}
	slot.Store(&dirEntry{dir: strings.Clone(dir), ignored: ignored})
	return ignored
}

// cached looks dir up in the cache, setting *ignored on a hit.
func (m *Matcher) cached(dir string, ignored *bool) bool {
	e := m.cache[maphash.String(m.seed, dir)&(dirCacheSize-1)].Load()
	if e == nil || e.dir != dir {
		return false
	}
	*ignored = e.ignored
	return true
}

// ancestorsIgnored decides, without the cache, whether dir or one of its
// ancestors is ignored, from the top down.
func (m *Matcher) ancestorsIgnored(dir string) bool {
	start := 0
	for {
		i := strings.IndexByte(dir[start:], '/')
		if i < 0 {
			return m.dirs.decide(dir, dir[start:])
		}
		if m.dirs.decide(dir[:start+i], dir[start:start+i]) {
			return true
		}
		start += i + 1
	}
}

// Hash returns a digest of both ignore files' contents. Matchers with equal
// hashes were built from the same contents and so have the same rules.
func (m *Matcher) Hash() [32]byte {
	if m == nil {
		return emptyDigest
	}
	return m.hash
}

// Problems describes the skipped patterns, one note per pattern with its
// file and line number, for showing to the user. Skipped patterns are ones
// that can never match (git accepts them but they have no effect).
func (m *Matcher) Problems() []string {
	if m == nil {
		return nil
	}
	return append([]string(nil), m.problems...)
}

// Empty reports whether the matcher ignores nothing at all because it has no
// rules that could ignore a path.
func (m *Matcher) Empty() bool {
	return m == nil || len(m.dirs.rules) == 0
}
