// Package scan walks a folder, finds what changed since the index last saw
// it, hashes changed files into chunks and records the changes in the
// index. Unchanged files (same type, size, mtime, inode and mode) are never
// re-hashed.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/chunk"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/transport/wire"
)

// Options configures a scan.
type Options struct {
	Root    string        // the folder's absolute path
	Index   *index.Folder // where changes are recorded
	LocalID uint64        // this device's version-vector counter ID
	// Ignore reports paths to leave alone (in addition to Shoal's own
	// files). May be nil.
	Ignore  func(rel string, isDir bool) bool
	Workers int // concurrent file hashers; default GOMAXPROCS
	// BatchSize is the number of records per index batch; default 1000.
	BatchSize int
	Logger    *slog.Logger
	// Now is the clock for deletion times; nil means time.Now.
	Now func() time.Time
	// Flags are set as LocalFlags on every record this scan writes (a
	// receive-only folder marks its local changes, which are never sent).
	Flags uint32
	// BeforeDeletions, when set, is called before deletions are recorded;
	// an error stops the scan without recording them. The folder uses it to
	// re-check its marker, so a drive that vanished mid-scan does not turn
	// into "everything was deleted".
	BeforeDeletions func() error
}

// Result summarises a scan.
type Result struct {
	Changed int      // records written to the index
	Hashed  int64    // bytes hashed
	Retry   []string // files that changed while being hashed: scan again later
}

// ErrRootMissing means the folder's path does not exist or is not a directory.
var ErrRootMissing = errors.New("folder path is missing")

// Scan scans the given subtrees (slash-separated, relative to the root; an
// empty list or one holding "" means the whole folder) and records every
// change in the index. New and modified entries are committed before
// deletions, so a peer that follows the change log sees a moved file's new
// name while the old one still exists and can rebuild it from local chunks.
func Scan(ctx context.Context, o Options, subs []string) (Result, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if fi, err := os.Stat(o.Root); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("%w: %s", ErrRootMissing, o.Root)
	}
	subs = normalizeSubs(subs)
	s := &scanner{o: o}
	var res Result
	for _, sub := range subs {
		if err := s.scanSub(ctx, sub, &res); err != nil {
			return res, err
		}
	}
	res.Retry = append(res.Retry, s.retry...)
	return res, nil
}

type scanner struct {
	o Options

	mu         sync.Mutex
	unreadable []string // directories the walk could not read: no deletions below them
	retry      []string // renamed entries to scan under their new names
}

// normalizeSubs cleans the list and drops entries covered by an ancestor.
func normalizeSubs(subs []string) []string {
	if len(subs) == 0 {
		return []string{""}
	}
	clean := make([]string, 0, len(subs))
	for _, s := range subs {
		s = strings.Trim(path.Clean("/"+s), "/")
		if s == "" {
			return []string{""}
		}
		clean = append(clean, s)
	}
	slices.Sort(clean)
	out := clean[:0]
	for _, s := range clean {
		if n := len(out); n > 0 && (s == out[n-1] || strings.HasPrefix(s, out[n-1]+"/")) {
			continue
		}
		out = append(out, s)
	}
	return out
}

func (s *scanner) ignored(rel string, isDir bool) bool {
	if fsutil.Internal(rel) {
		return true
	}
	return s.o.Ignore != nil && s.o.Ignore(rel, isDir)
}

// job is one filesystem entry that needs a new record.
type job struct {
	rel  string
	fi   fs.FileInfo
	prev *index.LocalFile
}

func (s *scanner) scanSub(ctx context.Context, sub string, res *Result) error {
	// An ancestor of sub that is now a file or a symlink means the subtree
	// as such is gone; scanning the parent handles both.
	if sub != "" {
		if err := fsutil.CheckParents(s.o.Root, sub); err != nil {
			return s.scanSub(ctx, path.Dir(sub), res)
		}
	}

	jobs := make(chan job)
	results := make(chan index.LocalFile)
	var retryMu sync.Mutex

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var walkErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		walkErr = s.walk(ctx, sub, jobs)
	})

	var hashers sync.WaitGroup
	for range s.o.Workers {
		hashers.Go(func() {
			for j := range jobs {
				lf, ok, err := s.record(ctx, j, res, &retryMu)
				if err != nil {
					s.o.Logger.Warn("Scanning file failed", slog.String("path", j.rel), slog.Any("error", err))
					continue
				}
				if !ok {
					continue
				}
				select {
				case results <- lf:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Go(func() {
		hashers.Wait()
		close(results)
	})

	// Commit in walk order within each batch; the hashers reorder across
	// files, so sort each batch by name to keep parents before children.
	var batch []index.LocalFile
	var commitErr error
	flush := func() {
		if len(batch) == 0 || commitErr != nil {
			return
		}
		slices.SortFunc(batch, func(a, b index.LocalFile) int { return strings.Compare(a.Info.Name, b.Info.Name) })
		if err := s.o.Index.UpdateLocal(batch); err != nil {
			commitErr = fmt.Errorf("recording scan results: %w", err)
			cancel()
			return
		}
		res.Changed += len(batch)
		batch = batch[:0]
	}
	for lf := range results {
		batch = append(batch, lf)
		if len(batch) >= s.o.BatchSize {
			flush()
		}
	}
	flush()
	wg.Wait()
	if commitErr != nil {
		return commitErr
	}
	if walkErr != nil {
		return walkErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.deletions(sub, res)
}

// walk visits the subtree and sends entries whose record is out of date.
func (s *scanner) walk(ctx context.Context, sub string, jobs chan<- job) error {
	start := fsutil.Native(s.o.Root, sub)
	return filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, rerr := filepath.Rel(s.o.Root, p)
		if rerr != nil {
			return rerr
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			if err != nil {
				return fmt.Errorf("%w: %v", ErrRootMissing, err)
			}
			return nil
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // vanished while walking; the deletion pass sees it
			}
			s.o.Logger.Warn("Cannot read path", slog.String("path", rel), slog.Any("error", err))
			s.mu.Lock()
			s.unreadable = append(s.unreadable, rel)
			s.mu.Unlock()
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		isDir := d.IsDir()
		if utf8.ValidString(rel) && !fsutil.IsNFC(d.Name()) {
			// Names are recorded in NFC. A decomposed (NFD) spelling is
			// the same name: rename it to NFC and scan it under that name
			// later, unless both spellings exist, which is reported.
			if s.ignored(rel, isDir) || s.ignored(fsutil.NFC(rel), isDir) {
				if isDir {
					return fs.SkipDir
				}
				return nil // never touch what the rules protect
			}
			nfc := filepath.Join(filepath.Dir(p), fsutil.NFC(d.Name()))
			if nfi, err := os.Lstat(nfc); err == nil {
				if ofi, err := os.Lstat(p); err == nil && os.SameFile(nfi, ofi) {
					// A file system that ignores normalization (macOS):
					// both spellings name this one file, and the walk will
					// not show the NFC one separately. Scan it as NFC.
					s.addRetry(fsutil.NFC(rel))
				} else {
					s.o.Logger.Warn("Both NFC and NFD spellings of a name exist; syncing only the NFC one", slog.String("path", rel))
				}
			} else if err := fsutil.RenameNoReplace(p, nfc); err != nil {
				s.o.Logger.Warn("Cannot rename a name to NFC; not syncing it", slog.String("path", rel), slog.Any("error", err))
			} else {
				s.o.Logger.Info("Renamed a decomposed (NFD) name to NFC", slog.String("path", rel))
				s.addRetry(path.Join(path.Dir(rel), fsutil.NFC(d.Name())))
			}
			if isDir {
				return fs.SkipDir
			}
			return nil
		}
		if !utf8.ValidString(rel) || wire.ValidName(rel) != nil {
			s.o.Logger.Warn("Skipping name that cannot be synced", slog.String("path", rel))
			if isDir {
				return fs.SkipDir
			}
			return nil
		}
		if s.ignored(rel, isDir) {
			if isDir {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // vanished
		}
		if !fi.Mode().IsRegular() && !fi.IsDir() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil // devices, sockets, pipes are not synced
		}
		prev, ok, err := s.o.Index.Local(rel)
		if err != nil {
			return fmt.Errorf("reading index for %s: %w", rel, err)
		}
		var pp *index.LocalFile
		if ok {
			pp = &prev
		}
		if !changed(pp, fi) {
			return nil
		}
		if isDir && pp != nil && pp.Info.Deleted {
			if s.holdsOnlyIgnored(rel, p) {
				// Deleted elsewhere and kept here only for the ignored
				// files inside: not a new directory.
				return nil
			}
			if pp.Info.LocalFlags&index.FlagForgotten != 0 && os.Remove(p) == nil {
				// Kept only for ignored files that are gone now: the
				// deletion it was kept through finally applies.
				return fs.SkipDir
			}
		}
		select {
		case jobs <- job{rel: rel, fi: fi, prev: pp}:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
}

// holdsOnlyIgnored reports whether the directory rel (at abs) holds
// entries and all of them are ignored.
func (s *scanner) holdsOnlyIgnored(rel, abs string) bool {
	ents, err := os.ReadDir(abs)
	if err != nil || len(ents) == 0 {
		return false
	}
	for _, e := range ents {
		child := rel + "/" + e.Name()
		t := e.Type()
		special := !t.IsRegular() && !t.IsDir() && t&fs.ModeSymlink == 0
		if !s.ignored(child, e.IsDir()) && !special && wire.ValidName(child) == nil {
			return false
		}
	}
	return true
}

func (s *scanner) addRetry(rel string) {
	s.mu.Lock()
	s.retry = append(s.retry, rel)
	s.mu.Unlock()
}

// changed reports whether fi differs from the local record.
func changed(prev *index.LocalFile, fi fs.FileInfo) bool {
	if prev == nil || prev.Info.Deleted {
		return true
	}
	r := prev.Info
	switch {
	case fi.IsDir():
		// Directory modes are not compared: the puller keeps owner rwx on
		// directories so it can write into them.
		return r.Type != wire.FileType_FILE_TYPE_DIRECTORY
	case fi.Mode()&fs.ModeSymlink != 0:
		return true // record() compares the target, which is cheap
	default:
		return r.Type != wire.FileType_FILE_TYPE_FILE || r.Size != fi.Size() ||
			r.ModifiedS != fi.ModTime().Unix() || r.ModifiedNs != int32(fi.ModTime().Nanosecond()) ||
			r.Permissions&0o777 != perm(fi) || (prev.Inode != 0 && prev.Inode != fsutil.Inode(fi))
	}
}

func perm(fi fs.FileInfo) uint32 { return uint32(fi.Mode().Perm()) }

// record builds the new record of a changed entry. ok is false when there is
// nothing to record (a symlink whose target did not change, or a file that
// changed while being hashed, which goes to res.Retry).
func (s *scanner) record(ctx context.Context, j job, res *Result, mu *sync.Mutex) (index.LocalFile, bool, error) {
	fi := j.fi
	abs := fsutil.Native(s.o.Root, j.rel)
	nf := &wire.FileInfo{
		Name:        j.rel,
		Permissions: perm(fi),
		ModifiedS:   fi.ModTime().Unix(),
		ModifiedNs:  int32(fi.ModTime().Nanosecond()),
		ModifiedBy:  s.o.LocalID,
	}
	var prevInfo *wire.FileInfo
	var prevA uint32
	if j.prev != nil {
		prevInfo = j.prev.Info
		prevA = prevInfo.BlockSize
	}
	switch {
	case fi.IsDir():
		nf.Type = wire.FileType_FILE_TYPE_DIRECTORY
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(abs)
		if err != nil {
			return index.LocalFile{}, false, fmt.Errorf("reading link: %w", err)
		}
		nf.Type = wire.FileType_FILE_TYPE_SYMLINK
		nf.SymlinkTarget = filepath.ToSlash(target)
		nf.Permissions = 0o777
		if prevInfo != nil && !prevInfo.Deleted && prevInfo.Type == nf.Type && prevInfo.SymlinkTarget == nf.SymlinkTarget {
			return index.LocalFile{}, false, nil
		}
	default:
		nf.Type = wire.FileType_FILE_TYPE_FILE
		nf.BlockSize = chunk.AverageSize(fi.Size(), prevA)
		blocks, after, err := hashFile(ctx, abs, fi, nf.BlockSize)
		if err != nil {
			if errors.Is(err, errChanged) || errors.Is(err, fs.ErrNotExist) {
				mu.Lock()
				res.Retry = append(res.Retry, j.rel)
				mu.Unlock()
				return index.LocalFile{}, false, nil
			}
			return index.LocalFile{}, false, err
		}
		mu.Lock()
		res.Hashed += fi.Size()
		mu.Unlock()
		nf.Blocks = blocks
		nf.BlocksHash = chunk.BlocksHash(blocks)
		nf.Size = after.Size()
	}
	if prevInfo != nil && !prevInfo.Deleted && index.SameContent(prevInfo, nf) && mtimeClose(prevInfo, nf) {
		// Only the scan cache (inode) changed, or the mtime moved within
		// the tolerance of a file system that keeps coarse times: the
		// same version, recorded with what the disk says.
		nf.Version = index.Clone(prevInfo.Version)
		nf.ModifiedBy = prevInfo.ModifiedBy
		nf.LocalFlags = prevInfo.LocalFlags
	} else {
		nf.LocalFlags = s.o.Flags
		var pv *wire.Vector
		if prevInfo != nil {
			pv = prevInfo.Version
		}
		nf.Version = index.Bump(pv, s.o.LocalID)
	}
	return index.LocalFile{Info: nf, Inode: fsutil.Inode(fi)}, true, nil
}

var errChanged = errors.New("file changed while being hashed")

// MtimeTolerance is how far a file's modification time may move with the
// same content before the change counts as an edit: file systems such as
// FAT keep 2 s steps, others whole seconds, and a pulled file's time is
// then rounded by the disk.
const MtimeTolerance = 2 * time.Second

func mtimeClose(a, b *wire.FileInfo) bool {
	d := time.Unix(a.ModifiedS, int64(a.ModifiedNs)).Sub(time.Unix(b.ModifiedS, int64(b.ModifiedNs)))
	return d.Abs() < MtimeTolerance
}

// hashFile chunks a file and checks that it did not change meanwhile, so a
// file still being written is never announced half-written.
func hashFile(ctx context.Context, abs string, before fs.FileInfo, avg uint32) ([]*wire.BlockInfo, fs.FileInfo, error) {
	f, err := fsutil.OpenNoFollow(abs)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	blocks, err := chunk.Blocks(ctx, f, avg)
	if err != nil {
		return nil, nil, fmt.Errorf("hashing %s: %w", abs, err)
	}
	after, err := os.Lstat(abs)
	if err != nil {
		return nil, nil, err
	}
	var total int64
	for _, b := range blocks {
		total += int64(b.Size)
	}
	if !after.Mode().IsRegular() || after.Size() != before.Size() || total != after.Size() ||
		!after.ModTime().Equal(before.ModTime()) || fsutil.Inode(after) != fsutil.Inode(before) {
		return nil, nil, errChanged
	}
	return blocks, after, nil
}

// deletions records a deletion for every live local record under sub whose
// path no longer exists (or became ignored-free but unreadable).
func (s *scanner) deletions(sub string, res *Result) error {
	var batch []index.LocalFile
	now := s.o.Now()
	err := s.o.Index.WalkLocal(sub, func(lf index.LocalFile) error {
		r := lf.Info
		if r.Deleted || s.ignored(r.Name, r.Type == wire.FileType_FILE_TYPE_DIRECTORY) || s.underUnreadable(r.Name) {
			return nil
		}
		gone, err := gone(s.o.Root, r)
		if err != nil {
			// Unknown is not gone: an I/O or permission error must never
			// spread as a deletion.
			s.o.Logger.Warn("Cannot check path; not treating it as deleted", slog.String("path", r.Name), slog.Any("error", err))
			return nil
		}
		if !gone {
			return nil
		}
		batch = append(batch, index.LocalFile{Info: &wire.FileInfo{
			Name:       r.Name,
			Type:       r.Type,
			Deleted:    true,
			ModifiedS:  now.Unix(),
			ModifiedNs: int32(now.Nanosecond()),
			ModifiedBy: s.o.LocalID,
			Version:    index.Bump(r.Version, s.o.LocalID),
			LocalFlags: s.o.Flags,
		}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("finding deleted files: %w", err)
	}
	if len(batch) > 0 && s.o.BeforeDeletions != nil {
		if err := s.o.BeforeDeletions(); err != nil {
			return fmt.Errorf("not recording %d deletions: %w", len(batch), err)
		}
	}
	// Children before parents, so a receiver can remove directories.
	slices.SortFunc(batch, func(a, b index.LocalFile) int { return strings.Compare(b.Info.Name, a.Info.Name) })
	for len(batch) > 0 {
		n := min(len(batch), s.o.BatchSize)
		if err := s.o.Index.UpdateLocal(batch[:n]); err != nil {
			return fmt.Errorf("recording deletions: %w", err)
		}
		res.Changed += n
		batch = batch[n:]
	}
	return nil
}

// underUnreadable reports whether name is at or below a directory the walk
// could not read.
func (s *scanner) underUnreadable(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.unreadable {
		if name == u || strings.HasPrefix(name, u+"/") {
			return true
		}
	}
	return false
}

// gone reports whether the record's path no longer exists with a
// compatible type (or is now reached through a symlink). Errors other than
// "does not exist" are returned, never taken as gone.
func gone(root string, r *wire.FileInfo) (bool, error) {
	if err := fsutil.CheckParents(root, r.Name); err != nil {
		if errors.Is(err, fsutil.ErrSymlinkInPath) {
			return true, nil
		}
		return false, err
	}
	fi, err := os.Lstat(fsutil.Native(root, r.Name))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	switch r.Type {
	case wire.FileType_FILE_TYPE_DIRECTORY:
		return !fi.IsDir(), nil
	case wire.FileType_FILE_TYPE_SYMLINK:
		return fi.Mode()&fs.ModeSymlink == 0, nil
	default:
		return !fi.Mode().IsRegular(), nil
	}
}
