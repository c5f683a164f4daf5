// Package versions is the per-folder version archive. When sync replaces
// or deletes a file on this device, the old file is first moved (renamed,
// never copied, so it stays on the same file system and keeps its mode
// and modification time) into the archive in the folder's hidden state
// directory, .shoal/versions, which is never synced.
//
// # Layout
//
// The archive mirrors the folder's directories. The copy of folder path
// dir/name.ext archived at time T is
//
//	.shoal/versions/dir/name~YYYYMMDD-HHMMSS.mmm.ext
//
// with T in UTC at millisecond precision. The extension is what follows
// the last dot of the name; a name without a dot, or whose only dot is the
// first byte (".bashrc"), gets the tag at the end:
// .bashrc~20261121-130501.123. If that name is taken (two versions in one
// millisecond), "-1", "-2", ... follows the milliseconds:
// name~20261121-130501.123-1.ext. Names are parsed from the right (the tag
// is the last "~" followed by the exact timestamp pattern, ending at the
// final extension or at the end of the name), so original names that
// themselves contain "~" or dates are recovered exactly. Files in the
// archive whose names do not parse are ignored: never listed, never
// cleaned. Symlinks are archived as links and never followed; directories
// are never archived.
//
// The folder's .shoal directory (the folder marker) must exist: the
// archive never creates it, so a missing marker (an unmounted drive) is
// not papered over.
//
// # Policies
//
// Clean applies a folder's policy (see Policy):
//
//   - "off": Clean removes nothing. Versions archived under an earlier
//     policy stay until the user deletes them from .shoal/versions.
//   - "trash": versions archived more than KeepDays days ago are removed.
//   - "staggered": per path, every version from the last hour is kept,
//     then at most one per hour up to a day old, one per day up to 30
//     days, one per week beyond, and none older than MaxAgeDays days. See
//     Thin for the exact rule.
//
// Clean also removes empty directories under the archive (never the
// archive directory itself); with "off" it does nothing at all. A file
// name that with the tag exceeds the file system's name limit cannot be
// archived: Archive returns the error.
//
// An Archive's methods may be called concurrently, also on several
// Archives of the same folder. (Archive also retries a few times if
// another process removes the archive directory it is renaming into.)
package versions

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoalsync/shoal/sync/fsutil"
)

// Policy types; the same strings as sync/config's VersioningOff,
// VersioningTrash and VersioningStaggered.
const (
	typeOff       = "off"
	typeTrash     = "trash"
	typeStaggered = "staggered"
)

// Defaults for a Policy's zero durations, the same as sync/config's.
const (
	defaultKeepDays   = 30
	defaultMaxAgeDays = 365
)

// Policy is a folder's cleanup policy for its version archive.
type Policy struct {
	// Type is "off", "trash" or "staggered".
	Type string
	// KeepDays is how long trash keeps a version; 0 means 30.
	KeepDays int
	// MaxAgeDays is the oldest version staggered keeps; 0 means 365.
	MaxAgeDays int
}

// Version is one archived copy of a file.
type Version struct {
	// Path is the folder-relative, slash-separated path of the original.
	Path string
	// ArchivedAt is when the copy was archived (UTC, milliseconds).
	ArchivedAt time.Time
	// ModTime is the archived copy's modification time.
	ModTime time.Time
	// Size is the archived copy's size (for a symlink: its target's length).
	Size int64
	// File is the path of the archived copy (absolute when the folder
	// root given to New is).
	File string

	seq int // collision suffix, orders versions archived in one millisecond
}

// Archive is the version archive of one folder.
type Archive struct {
	root string
	// mu keeps Clean from removing an empty archive directory between
	// Archive creating it and renaming into it: Archive holds it shared,
	// the removal of each empty directory exclusively. It is shared by
	// all Archives of one folder root in this process.
	mu *sync.RWMutex
}

// locks maps a cleaned absolute folder root to its *sync.RWMutex.
var locks sync.Map

// ErrIsDir is returned when asked to archive or replace a directory.
var ErrIsDir = errors.New("is a directory")

// errNotFile is returned for special files (devices, sockets, pipes).
var errNotFile = errors.New("not a regular file or symlink")

// archiveRel is the archive directory relative to the folder root.
var archiveRel = fsutil.StateDir + "/versions"

// New returns the archive of the folder at folderRoot. It touches nothing
// on disk.
func New(folderRoot string) *Archive {
	key, err := filepath.Abs(folderRoot)
	if err != nil {
		key = filepath.Clean(folderRoot)
	}
	mu, _ := locks.LoadOrStore(key, new(sync.RWMutex))
	return &Archive{root: folderRoot, mu: mu.(*sync.RWMutex)}
}

// Dir returns the archive directory, folderRoot/.shoal/versions.
func (a *Archive) Dir() string {
	return fsutil.Native(a.root, archiveRel)
}

// checkRel verifies that rel names a file inside the folder that is not
// one of Shoal's own.
func checkRel(rel string) error {
	if !fs.ValidPath(rel) || rel == "." || strings.ContainsRune(rel, 0) {
		return fmt.Errorf("invalid path %q", rel)
	}
	if fsutil.Internal(rel) {
		return fmt.Errorf("path %q is internal to Shoal", rel)
	}
	return nil
}

// mkdirs makes sure every component of the slash path rel below root is a
// real directory, creating missing ones (except the first mustExist
// components) and fsyncing the parent of each one it creates. It fails
// with fsutil.ErrSymlinkInPath if a component is a symlink or not a
// directory.
func mkdirs(root, rel string, mustExist int) error {
	if rel == "." || rel == "" {
		return nil
	}
	for attempt := 0; ; attempt++ {
		err := mkdirsOnce(root, rel, mustExist)
		if errors.Is(err, errParentGone) && attempt < 10 {
			continue // Clean removed an empty parent meanwhile
		}
		return err
	}
}

// errParentGone is a parent directory that vanished after mkdirs checked it.
var errParentGone = errors.New("parent directory removed concurrently")

func mkdirsOnce(root, rel string, mustExist int) error {
	p := root
	for i, c := range strings.Split(rel, "/") {
		parent := p
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s: %w", rel, fsutil.ErrSymlinkInPath)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) || i < mustExist {
			return err
		}
		if err := os.Mkdir(p, 0o755); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %w", errParentGone, err)
			}
			if !errors.Is(err, fs.ErrExist) {
				return err
			}
			// Created concurrently: check what it is.
			if fi, err := os.Lstat(p); err != nil {
				return err
			} else if !fi.IsDir() {
				return fmt.Errorf("%s: %w", rel, fsutil.ErrSymlinkInPath)
			}
			continue
		}
		if err := fsutil.SyncDir(parent); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %w", errParentGone, err)
			}
			return err
		}
	}
	return nil
}

// archiveDir returns the archive directory of folder directory dir (a
// slash path, "." for the root), relative to the folder root.
func archiveDirRel(dir string) string {
	if dir == "." {
		return archiveRel
	}
	return archiveRel + "/" + dir
}

// Archive moves the file or symlink at folderRoot/rel into the archive
// (a rename, no copy), creating the archive directories it needs, then
// fsyncs the archive directory and the source's parent directory. It
// refuses directories and special files, never follows a symlink in rel's
// parents, and never overwrites an archive entry (a name taken in the
// same millisecond gets a -N suffix). now is the archive time.
func (a *Archive) Archive(rel string, now time.Time) (Version, error) {
	v, err := a.archive(rel, now)
	if err != nil {
		return Version{}, fmt.Errorf("archiving %s: %w", rel, err)
	}
	return v, nil
}

func (a *Archive) archive(rel string, now time.Time) (Version, error) {
	if err := checkRel(rel); err != nil {
		return Version{}, err
	}
	if !formattable(now) {
		return Version{}, fmt.Errorf("archive time %v out of range", now)
	}
	if err := fsutil.CheckParents(a.root, rel); err != nil {
		return Version{}, err
	}
	src := fsutil.Native(a.root, rel)
	fi, err := os.Lstat(src)
	if err != nil {
		return Version{}, err
	}
	if fi.IsDir() {
		return Version{}, ErrIsDir
	}
	if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
		return Version{}, errNotFile
	}
	dir, base := path.Split(rel)
	dir = path.Clean(dir)
	adirRel := archiveDirRel(dir)
	adir := fsutil.Native(a.root, adirRel)
	at := now.UTC().Truncate(time.Millisecond)

	var dst string
	seq, retries := 0, 0
	a.mu.RLock()
	defer a.mu.RUnlock()
	for {
		if err := mkdirs(a.root, adirRel, 1); err != nil {
			return Version{}, fmt.Errorf("creating archive directory: %w", err)
		}
		dst = filepath.Join(adir, formatName(base, at, seq))
		err := fsutil.RenameNoReplace(src, dst)
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, fsutil.ErrExists):
			if seq++; seq > maxSeq {
				return Version{}, fmt.Errorf("too many versions archived at %v", at)
			}
		case errors.Is(err, fs.ErrNotExist) && retries < 10:
			// Either the source went away or Clean removed the
			// (empty) archive directory after mkdirs.
			if _, serr := os.Lstat(src); serr != nil {
				return Version{}, serr
			}
			retries++
		default:
			return Version{}, err
		}
	}
	if err := fsutil.SyncDir(adir); err != nil {
		return Version{}, fmt.Errorf("syncing archive directory: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(src)); err != nil {
		return Version{}, fmt.Errorf("syncing source directory: %w", err)
	}
	v := Version{Path: rel, ArchivedAt: at, ModTime: fi.ModTime(), Size: fi.Size(), File: dst, seq: seq}
	if afi, err := os.Lstat(dst); err == nil {
		v.ModTime, v.Size = afi.ModTime(), afi.Size()
	}
	return v, nil
}

// List returns the archived versions of rel, newest first. A missing
// archive gives an empty list.
func (a *Archive) List(rel string) ([]Version, error) {
	if err := checkRel(rel); err != nil {
		return nil, fmt.Errorf("listing versions: %w", err)
	}
	dir, base := path.Split(rel)
	adirRel := archiveDirRel(path.Clean(dir))
	if err := fsutil.CheckParents(a.root, adirRel+"/x"); err != nil {
		return nil, fmt.Errorf("listing versions of %s: %w", rel, err)
	}
	adir := fsutil.Native(a.root, adirRel)
	ents, err := os.ReadDir(adir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing versions of %s: %w", rel, err)
	}
	var out []Version
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, at, seq, ok := parseName(e.Name())
		if !ok || b != base {
			continue
		}
		v, ok, err := a.version(filepath.Join(adir, e.Name()), rel, at, seq)
		if err != nil {
			return nil, fmt.Errorf("listing versions of %s: %w", rel, err)
		}
		if ok {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(x, y Version) int { return compareVersions(y, x) })
	return out, nil
}

// version stats an archive entry; false if it vanished meanwhile or is a
// directory.
func (a *Archive) version(file, rel string, at time.Time, seq int) (Version, bool, error) {
	fi, err := os.Lstat(file)
	if errors.Is(err, fs.ErrNotExist) {
		return Version{}, false, nil
	}
	if err != nil {
		return Version{}, false, err
	}
	if fi.IsDir() {
		return Version{}, false, nil
	}
	return Version{Path: rel, ArchivedAt: at, ModTime: fi.ModTime(), Size: fi.Size(), File: file, seq: seq}, true, nil
}

// All calls fn for every archived version, in no particular order, and
// stops at fn's first error. A missing archive has no versions.
func (a *Archive) All(fn func(Version) error) error {
	if err := fsutil.CheckParents(a.root, archiveRel+"/x"); err != nil {
		return fmt.Errorf("walking version archive: %w", err)
	}
	adir := a.Dir()
	if _, err := os.Lstat(adir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	var fnErr error
	err := filepath.WalkDir(adir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile
				return nil
			}
			return err
		}
		if d.IsDir() || p == adir {
			return nil
		}
		base, at, seq, ok := parseName(d.Name())
		if !ok {
			return nil
		}
		relDir, err := filepath.Rel(adir, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel := path.Join(filepath.ToSlash(relDir), base)
		if checkRel(rel) != nil {
			return nil
		}
		v, ok, err := a.version(p, rel, at, seq)
		if err != nil || !ok {
			return err
		}
		if err := fn(v); err != nil {
			fnErr = err
			return fs.SkipAll
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("walking version archive: %w", err)
	}
	return nil
}

// Pick returns the newest version of rel archived at or before at (the
// newest of all if at is zero). The error wraps fs.ErrNotExist if there is
// none.
func (a *Archive) Pick(rel string, at time.Time) (Version, error) {
	vs, err := a.List(rel)
	if err != nil {
		return Version{}, err
	}
	for _, v := range vs {
		if at.IsZero() || !v.ArchivedAt.After(at) {
			return v, nil
		}
	}
	if at.IsZero() {
		return Version{}, fmt.Errorf("no archived version of %s: %w", rel, fs.ErrNotExist)
	}
	return Version{}, fmt.Errorf("no archived version of %s at or before %v: %w", rel, at.UTC(), fs.ErrNotExist)
}

// Restore puts version v back at folderRoot/v.Path. The archived copy is
// copied (the archive keeps it) into a temporary file in the target
// directory (name starting with fsutil.TempPrefix), which gets the
// version's mode and modification time and is fsynced; a symlink version
// is restored as a symlink. A file or symlink at the target is archived
// first (at time now), so nothing is lost; a directory there is an error.
// Then the temporary file is renamed into place and the directory
// fsynced. Missing parent directories are created; a symlink among them
// is an error.
func (a *Archive) Restore(v Version, now time.Time) error {
	if err := a.restore(v, now); err != nil {
		return fmt.Errorf("restoring %s: %w", v.Path, err)
	}
	return nil
}

func (a *Archive) restore(v Version, now time.Time) error {
	if err := checkRel(v.Path); err != nil {
		return err
	}
	// v.File must be an archive entry of v.Path.
	dir, base := path.Split(v.Path)
	dir = path.Clean(dir)
	adirRel := archiveDirRel(dir)
	if filepath.Clean(filepath.Dir(v.File)) != fsutil.Native(a.root, adirRel) {
		return fmt.Errorf("%s is not in the archive directory of %s", v.File, v.Path)
	}
	if b, _, _, ok := parseName(filepath.Base(v.File)); !ok || b != base {
		return fmt.Errorf("%s is not an archived version of %s", v.File, v.Path)
	}
	if err := fsutil.CheckParents(a.root, adirRel+"/x"); err != nil {
		return err
	}
	fi, err := os.Lstat(v.File)
	if err != nil {
		return err
	}
	isLink := fi.Mode()&fs.ModeSymlink != 0
	if !isLink && !fi.Mode().IsRegular() {
		return errNotFile
	}

	if err := mkdirs(a.root, dir, 0); err != nil {
		return fmt.Errorf("creating parent directories: %w", err)
	}
	tdir := fsutil.Native(a.root, dir)
	target := fsutil.Native(a.root, v.Path)

	tmp, err := a.writeTemp(tdir, v.File, fi, isLink)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()

	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			return fmt.Errorf("target keeps being recreated")
		}
		cur, err := os.Lstat(target)
		switch {
		case err == nil && cur.IsDir():
			return fmt.Errorf("target: %w", ErrIsDir)
		case err == nil:
			if _, err := a.archive(v.Path, now); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("archiving current file: %w", err)
			}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		// Set the time last: the puller sweeps temporary files with old
		// modification times.
		if isLink {
			err = lchtimes(tmp, fi.ModTime())
		} else {
			err = os.Chtimes(tmp, time.Time{}, fi.ModTime())
		}
		if err != nil {
			return fmt.Errorf("setting modification time: %w", err)
		}
		err = fsutil.RenameNoReplace(tmp, target)
		if errors.Is(err, fsutil.ErrExists) {
			continue // something appeared meanwhile: archive it too
		}
		if err != nil {
			return err
		}
		done = true
		break
	}
	if err := fsutil.SyncDir(tdir); err != nil {
		return fmt.Errorf("syncing directory: %w", err)
	}
	return nil
}

// writeTemp creates a durable temporary copy of the archive entry file in
// dir and returns its path.
func (a *Archive) writeTemp(dir, file string, fi fs.FileInfo, isLink bool) (string, error) {
	if isLink {
		target, err := os.Readlink(file)
		if err != nil {
			return "", err
		}
		for range 10 {
			var b [8]byte
			rand.Read(b[:])
			tmp := filepath.Join(dir, fsutil.TempPrefix+"restore."+hex.EncodeToString(b[:]))
			err = os.Symlink(target, tmp)
			if err == nil {
				return tmp, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("creating temporary symlink: %w", err)
			}
		}
		return "", fmt.Errorf("creating temporary symlink: %w", err)
	}
	src, err := fsutil.OpenNoFollow(file)
	if err != nil {
		return "", err
	}
	defer src.Close()
	f, err := os.CreateTemp(dir, fsutil.TempPrefix+"restore.*")
	if err != nil {
		return "", fmt.Errorf("creating temporary file: %w", err)
	}
	tmp := f.Name()
	_, err = io.Copy(f, src)
	if err == nil {
		err = f.Chmod(fi.Mode().Perm())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("writing temporary file: %w", err)
	}
	return tmp, nil
}

// Clean applies policy p at time now and returns how many versions it
// removed. It then removes the directories under the archive (never the
// archive itself) that are empty. Policy "off" removes nothing at all:
// versions archived under an earlier policy stay until the user deletes
// them. Errors removing single versions do not stop the cleanup; they are
// returned joined.
func (a *Archive) Clean(p Policy, now time.Time) (removed int, err error) {
	var drop func(vs []Version) []Version
	switch p.Type {
	case typeOff:
		return 0, nil
	case typeTrash:
		days := p.KeepDays
		if days < 0 {
			return 0, fmt.Errorf("cleaning version archive: negative KeepDays %d", days)
		} else if days == 0 {
			days = defaultKeepDays
		}
		keep := time.Duration(days) * 24 * time.Hour
		drop = func(vs []Version) (out []Version) {
			for _, v := range vs {
				if now.Sub(v.ArchivedAt) > keep {
					out = append(out, v)
				}
			}
			return out
		}
	case typeStaggered:
		days := p.MaxAgeDays
		if days < 0 {
			return 0, fmt.Errorf("cleaning version archive: negative MaxAgeDays %d", days)
		} else if days == 0 {
			days = defaultMaxAgeDays
		}
		maxAge := time.Duration(days) * 24 * time.Hour
		drop = func(vs []Version) (out []Version) {
			times := make([]time.Time, len(vs))
			for i, v := range vs {
				times[i] = v.ArchivedAt
			}
			for i, k := range Thin(times, now, maxAge) {
				if !k {
					out = append(out, vs[i])
				}
			}
			return out
		}
	default:
		return 0, fmt.Errorf("cleaning version archive: unknown policy type %q", p.Type)
	}

	byPath := make(map[string][]Version)
	if err := a.All(func(v Version) error {
		byPath[v.Path] = append(byPath[v.Path], v)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("cleaning version archive: %w", err)
	}
	var errs []error
	for _, vs := range byPath {
		slices.SortFunc(vs, compareVersions)
		for _, v := range drop(vs) {
			switch err := os.Remove(v.File); {
			case err == nil:
				removed++
			case errors.Is(err, fs.ErrNotExist):
			default:
				errs = append(errs, err)
			}
		}
	}
	if err := a.removeEmptyDirs(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("cleaning version archive: %w", errors.Join(errs...))
	}
	return removed, nil
}

// removeEmptyDirs removes the empty directories under the archive,
// deepest first, so that chains of empty directories all go.
func (a *Archive) removeEmptyDirs() error {
	adir := a.Dir()
	var dirs []string
	err := filepath.WalkDir(adir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && p != adir {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walking archive directories: %w", err)
	}
	// WalkDir visits parents before children: reverse order visits every
	// child before its parent.
	synced := make(map[string]bool)
	for i := len(dirs) - 1; i >= 0; i-- {
		a.mu.Lock()
		if empty, err := isEmptyDir(dirs[i]); err == nil && empty {
			// rmdir fails if something was put in meanwhile: nothing lost.
			if os.Remove(dirs[i]) == nil {
				synced[filepath.Dir(dirs[i])] = true
			}
		}
		a.mu.Unlock()
	}
	for d := range synced {
		fsutil.SyncDir(d) // best effort: an empty directory coming back is harmless
	}
	return nil
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}
