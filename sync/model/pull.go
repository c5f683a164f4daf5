package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/sync/ignore"
	"github.com/shoalsync/shoal/sync/plan"
	"github.com/shoalsync/shoal/sync/scan"
	"github.com/shoalsync/shoal/transport/wire"
)

// writebackEvery is how much fetched data may pile up in the page cache
// before writeback to disk is started.
const writebackEvery = 32 << 20

// blocksInFlight bounds concurrent block fetches per file.
const blocksInFlight = 32

var (
	// errRescan means the file on disk differs from our record: it has
	// local changes the scanner has not seen yet, so overwriting it could
	// lose them. The folder rescans it and pulls again.
	errRescan  = errors.New("local file changed since the last scan")
	errNoPeers = errors.New("no connected device has this file")
)

type need struct {
	g     index.GlobalEntry
	local *index.LocalFile
}

// runPull pulls everything this device needs. It reports whether some
// files failed and a retry should be scheduled.
func (f *folder) runPull(ctx context.Context) (retry bool) {
	f.mu.Lock()
	wait := time.Until(f.mu.fullUntil)
	f.mu.Unlock()
	if wait > 0 {
		return true // the disk was full a moment ago: retry at the normal pace
	}
	for ctx.Err() == nil {
		progress, failed, err := f.pullOnce(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.setPullError(fmt.Errorf("pulling: %w", err))
			}
			if isDiskFull(err) {
				f.mu.Lock()
				f.mu.fullUntil = time.Now().Add(f.m.opts.RetryInterval)
				f.mu.Unlock()
			}
			return true
		}
		f.setPullError(nil)
		if failed == 0 {
			f.dropTemps()
			f.setStateUnlessError(StateIdle)
			return false
		}
		if progress == 0 {
			f.setStateUnlessError(StateIdle)
			return true
		}
	}
	return false
}

func (f *folder) setStateUnlessError(s string) {
	f.mu.Lock()
	if f.mu.err == nil {
		f.mu.state = s
	}
	f.mu.Unlock()
}

// pullOnce makes one pass over the need list: directories first (parents
// before children), then files and symlinks in parallel, then deletions
// (children before parents). Creating before deleting lets a moved file be
// rebuilt from its old copy.
func (f *folder) pullOnce(ctx context.Context) (progress, failed int, err error) {
	var dirs, files, links, dels []need
	err = f.idx.Need(func(g index.GlobalEntry, local *index.LocalFile) error {
		n := need{g: g}
		if local != nil {
			l := *local
			n.local = &l
		}
		switch {
		case g.Winner.Deleted:
			dels = append(dels, n)
		case g.Winner.Type == wire.FileType_FILE_TYPE_DIRECTORY:
			dirs = append(dirs, n)
		case g.Winner.Type == wire.FileType_FILE_TYPE_SYMLINK:
			links = append(links, n)
		default:
			files = append(files, n)
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("listing needed files: %w", err)
	}
	if len(dirs)+len(files)+len(links)+len(dels) == 0 {
		f.clearFileErrors(nil)
		return 0, 0, nil
	}
	if err := f.checkRoot(); err != nil {
		return 0, 0, err
	}
	if err := f.ignoreErr(); err != nil {
		return 0, 0, err // without the rules, sync could overwrite protected files
	}
	f.setStateUnlessError(StateSyncing)
	// New shared ignore rules apply to everything else in this pass.
	if i := slices.IndexFunc(files, func(n need) bool { return n.g.Winner.Name == ignore.File }); i >= 0 {
		if err := f.pullNow(ctx, files[i]); err == nil {
			files = slices.Delete(files, i, i+1)
			if f.loadIgnores() {
				f.requestScan(nil, true)
			}
		}
	}

	c := newCommitter(f)
	defer c.close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	attempted := map[string]bool{}
	handle := func(n need, lf index.LocalFile, err error) {
		name := n.g.Winner.Name
		var skip *skipError
		switch {
		case err == nil:
			c.add(lf)
			f.setFileError(name, "", nil)
			f.rescanDone(name)
			progress++
		case errors.Is(err, errRescan):
			if f.rescanLoop(name) {
				// Rescanned again and again without the change settling
				// (or the scanner cannot record what is there): stop
				// spinning, report it and retry at the normal pace.
				f.setFileError(name, FileErrorFailed, errors.New("the file keeps differing from what the scanner recorded; will retry"))
				failed++
			} else {
				f.requestScan([]string{name}, false)
			}
		case errors.Is(err, errDefer):
			failed++
		case errors.As(err, &skip):
			if skip.kind != "" {
				f.setFileError(name, skip.kind, err)
			} else {
				f.setFileError(name, "", nil)
			}
		case isDiskFull(err):
			// Stop the whole pass: every other file would fail the same
			// way. The partial file is removed and the pull retried.
			cancel(fmt.Errorf("%w: %v", ErrDiskFull, err))
			failed++
		case ctx.Err() != nil:
		default:
			f.setFileError(name, FileErrorFailed, err)
			failed++
		}
	}

	// Directories level by level (parents first), each level in parallel:
	// creating a directory costs a journal update, and there may be many.
	var mu sync.Mutex
	for _, level := range byDepth(dirs) {
		work := make(chan need)
		var wg sync.WaitGroup
		for range min(f.m.opts.PullWorkers, len(level)) {
			wg.Go(func() {
				for n := range work {
					lf, err := f.pullDir(n)
					mu.Lock()
					handle(n, lf, err)
					mu.Unlock()
				}
			})
		}
		for _, n := range level {
			attempted[n.g.Winner.Name] = true
			work <- n
		}
		close(work)
		wg.Wait()
	}

	work := make(chan need)
	readyCh := make(chan *pending, 2*f.m.opts.PullWorkers)
	var wg, inst sync.WaitGroup
	inst.Go(func() {
		f.installer(readyCh, func(n need, lf index.LocalFile, err error) { mu.Lock(); handle(n, lf, err); mu.Unlock() })
	})
	for range f.m.opts.PullWorkers {
		wg.Go(func() {
			for n := range work {
				lf, p, err := f.pullEntry(ctx, n)
				if p != nil {
					readyCh <- p
					continue
				}
				mu.Lock()
				handle(n, lf, err)
				mu.Unlock()
			}
		})
	}
	for _, n := range files {
		attempted[n.g.Winner.Name] = true
		select {
		case work <- n:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	close(readyCh)
	inst.Wait()
	c.flush()

	// Symlinks after every file is in place, one at a time: a link that
	// replaces a directory must never be installed while another worker
	// is writing below that directory's path.
	for _, n := range links {
		if ctx.Err() != nil {
			break
		}
		attempted[n.g.Winner.Name] = true
		lf, _, err := f.pullEntry(ctx, n)
		handle(n, lf, err)
	}
	c.flush()

	slices.SortFunc(dels, func(a, b need) int { return strings.Compare(b.g.Winner.Name, a.g.Winner.Name) })
	for _, n := range dels {
		if ctx.Err() != nil {
			break
		}
		attempted[n.g.Winner.Name] = true
		lf, err := f.pullDelete(n)
		handle(n, lf, err)
	}
	if err := c.close(); err != nil {
		return progress, failed, err
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrDiskFull) {
		return progress, failed, cause
	}
	f.clearFileErrors(attempted)
	return progress, failed, ctx.Err()
}

// pullNow pulls and records one file on its own, outside the batched
// installer. It returns an error when the file was not brought up to date.
func (f *folder) pullNow(ctx context.Context, n need) error {
	lf, p, err := f.pullEntry(ctx, n)
	if p != nil {
		err = p.fd.Sync()
		p.fd.Close()
		if err == nil {
			err = f.install(p.n, p.tmp, p.abs, p.fi, p.d)
		}
		if err == nil {
			err = fsutil.SyncDir(filepath.Dir(p.abs))
		}
		if err == nil {
			lf, err = f.newRecord(n, p.abs)
		} else {
			os.Remove(p.tmp)
		}
	}
	if err != nil {
		return err
	}
	if err := f.idx.UpdateLocal([]index.LocalFile{lf}); err != nil {
		return fmt.Errorf("recording %s: %w", n.g.Winner.Name, err)
	}
	f.notifyLocalChanged()
	return nil
}

// byDepth groups needs by the depth of their path, shallowest first.
func byDepth(ns []need) [][]need {
	var levels [][]need
	for _, n := range ns {
		d := strings.Count(n.g.Winner.Name, "/")
		for len(levels) <= d {
			levels = append(levels, nil)
		}
		levels[d] = append(levels[d], n)
	}
	return slices.DeleteFunc(levels, func(l []need) bool { return len(l) == 0 })
}

// committer batches local-record updates of finished files into index
// commits, committing at once when nothing else is ready so a single edit is
// announced without delay.
type committer struct {
	f    *folder
	ch   chan index.LocalFile
	done chan struct{}
	err  error
	mu   sync.Mutex
	// flushed is signalled after the committer has written everything
	// queued before a flush request.
	flushReq chan chan struct{}
	once     sync.Once
}

func newCommitter(f *folder) *committer {
	c := &committer{f: f, ch: make(chan index.LocalFile, 256), done: make(chan struct{}), flushReq: make(chan chan struct{})}
	go c.run()
	return c
}

func (c *committer) add(lf index.LocalFile) { c.ch <- lf }

func (c *committer) run() {
	defer close(c.done)
	var batch []index.LocalFile
	commit := func() {
		if len(batch) == 0 {
			return
		}
		if err := c.f.idx.UpdateLocal(batch); err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("recording pulled files: %w", err)
			c.mu.Unlock()
		} else {
			c.f.notifyLocalChanged()
		}
		batch = batch[:0]
	}
	for {
		select {
		case lf, ok := <-c.ch:
			if !ok {
				commit()
				return
			}
			batch = append(batch, lf)
			// Take whatever else is ready, then commit.
			for len(batch) < 1000 {
				select {
				case lf, ok := <-c.ch:
					if !ok {
						commit()
						return
					}
					batch = append(batch, lf)
					continue
				default:
				}
				break
			}
			commit()
		case ack := <-c.flushReq:
			// Everything added before the request is in c.ch ahead of it
			// only if we drain first.
			for {
				select {
				case lf := <-c.ch:
					batch = append(batch, lf)
					continue
				default:
				}
				break
			}
			commit()
			close(ack)
		}
	}
}

// flush waits until everything added so far is committed.
func (c *committer) flush() {
	ack := make(chan struct{})
	select {
	case c.flushReq <- ack:
		<-ack
	case <-c.done:
	}
}

func (c *committer) close() error {
	c.once.Do(func() { close(c.ch) })
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (f *folder) setFileError(name, kind string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.mu.fileErrors, name)
		return
	}
	if _, had := f.mu.fileErrors[name]; !had {
		if kind == FileErrorFailed {
			f.log.Warn("Pulling file failed", slog.String("path", name), slog.Any("error", err))
		} else {
			f.log.Info("Not applying a change here", slog.String("path", name), slog.String("kind", kind), slog.Any("reason", err))
		}
	}
	f.mu.fileErrors[name] = FileError{Path: name, Error: err.Error(), Kind: kind}
}

// clearFileErrors drops errors of files that are no longer needed.
func (f *folder) clearFileErrors(attempted map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.mu.fileErrors {
		if !attempted[p] {
			delete(f.mu.fileErrors, p)
		}
	}
}

// newRecord is the local record after adopting the winner. When our
// version was concurrent with it, the versions are merged so the result
// dominates both and other devices that still hold our old version settle
// on it without a second conflict.
func (f *folder) newRecord(n need, abs string) (index.LocalFile, error) {
	w := n.g.Winner
	rec := cloneInfo(w)
	rec.LocalFlags = 0
	if n.local != nil && index.Compare(n.local.Info.Version, w.Version) == index.Concurrent && !f.encryptedOnly() {
		// Merge and bump: the result dominates both, and no other device
		// can reach the same vector with different content (two devices
		// merging different winners of one path would otherwise agree on
		// a version while holding different files).
		rec.Version = index.Bump(index.Merge(n.local.Info.Version, w.Version), f.m.localID)
	}
	lf := index.LocalFile{Info: rec}
	if !w.Deleted {
		fi, err := os.Lstat(abs)
		if err != nil {
			return lf, fmt.Errorf("checking result: %w", err)
		}
		lf.Inode = fsutil.Inode(fi)
		if w.Type == wire.FileType_FILE_TYPE_FILE {
			// A file system with coarse times rounds the mtime: record what
			// the disk keeps (same version), or the scanner would take the
			// rounding for an edit.
			if mt := fi.ModTime(); mt.Unix() != w.ModifiedS || int32(mt.Nanosecond()) != w.ModifiedNs {
				if d := mt.Sub(time.Unix(w.ModifiedS, int64(w.ModifiedNs))); d.Abs() < scan.MtimeTolerance {
					rec.ModifiedS, rec.ModifiedNs = mt.Unix(), int32(mt.Nanosecond())
				}
			}
		}
	}
	return lf, nil
}

// matchesRecord reports whether fi, what is at abs now, is what the live
// local record says. Anything else is a local change the scanner has not
// seen yet.
func matchesRecord(local *index.LocalFile, fi fs.FileInfo, abs string) bool {
	r := local.Info
	switch r.Type {
	case wire.FileType_FILE_TYPE_DIRECTORY:
		return fi.IsDir()
	case wire.FileType_FILE_TYPE_SYMLINK:
		t, err := os.Readlink(abs)
		return err == nil && fi.Mode()&fs.ModeSymlink != 0 && t == r.SymlinkTarget
	}
	return fi.Mode().IsRegular() && fi.Size() == r.Size && fi.ModTime().Unix() == r.ModifiedS &&
		int32(fi.ModTime().Nanosecond()) == r.ModifiedNs && (local.Inode == 0 || local.Inode == fsutil.Inode(fi))
}

func (f *folder) target(name string) (string, error) {
	if err := wire.ValidName(name); err != nil {
		return "", err
	}
	if fsutil.Internal(name) {
		return "", fmt.Errorf("%q is reserved for Shoal's own files", name)
	}
	root := f.path()
	// The marker proves the folder is still there: an unmounted drive
	// must not be refilled through its empty mount point.
	if _, err := os.Lstat(filepath.Join(root, fsutil.StateDir)); err != nil {
		return "", fmt.Errorf("%w: %v", ErrMarkerMissing, err)
	}
	if err := fsutil.CheckParents(root, name); err != nil {
		return "", err
	}
	return fsutil.Native(root, name), nil
}

func (f *folder) pullDir(n need) (index.LocalFile, error) {
	w := n.g.Winner
	abs, err := f.target(w.Name)
	if err != nil {
		return index.LocalFile{}, err
	}
	d, fi, err := f.decide(n, abs)
	if err != nil {
		return index.LocalFile{}, err
	}
	if lf, handled, err := f.settle(n, d, abs); handled {
		return lf, err
	}
	if fi != nil && !fi.IsDir() {
		// A file or symlink where the winner has a directory.
		switch d.Action {
		case plan.Conflict:
			if err := f.moveToConflict(n, abs); err != nil {
				return index.LocalFile{}, err
			}
		case plan.Replace:
			if err := f.discard(w.Name, abs, d.Archive); err != nil {
				return index.LocalFile{}, fmt.Errorf("replacing file with a directory: %w", err)
			}
		default:
			return index.LocalFile{}, errRescan
		}
	}
	if f.caseInsensitive() {
		// Directories of one level are made in parallel: check and make
		// them one at a time so two spellings cannot both be created.
		f.caseMu.Lock()
		defer f.caseMu.Unlock()
		if fi == nil {
			if other := f.caseTwin(w.Name); other != "" {
				return index.LocalFile{}, &skipError{kind: FileErrorCaseCollision, reason: casePrefix + " from " + other + ", which exists here; this file system cannot hold both"}
			}
		}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return index.LocalFile{}, fmt.Errorf("creating directory: %w", err)
	}
	if err := os.Chmod(abs, fs.FileMode(w.Permissions&0o777)|0o700); err != nil {
		return index.LocalFile{}, fmt.Errorf("setting mode: %w", err)
	}
	return f.newRecord(n, abs)
}

// settle carries out the decisions that write no content. handled is false
// when the caller has to act.
func (f *folder) settle(n need, d plan.Decision, abs string) (lf index.LocalFile, handled bool, err error) {
	w := n.g.Winner
	switch d.Action {
	case plan.None:
		return lf, true, &skipError{reason: "already in sync"}
	case plan.Wait:
		return lf, true, errRescan
	case plan.Defer:
		return lf, true, errDefer
	case plan.Skip:
		return lf, true, skipFor(d, w.Name, f.nameProblem(w, n.local))
	case plan.Keep:
		return f.keepRecord(n), true, nil
	case plan.Adopt:
		lf, err := f.newRecord(n, abs)
		return lf, true, err
	case plan.Forget:
		lf, err := f.newRecord(n, abs)
		if err == nil {
			lf.Info.LocalFlags |= flagForgotten // the scanner leaves the directory alone
		}
		return lf, true, err
	case plan.SetMeta:
		if fi, err := os.Lstat(abs); err != nil || diskState(n.local, w, fi, abs) != plan.AsRecorded {
			return lf, true, errRescan // changed since the decision
		}
		if w.Type == wire.FileType_FILE_TYPE_DIRECTORY {
			if err := os.Chmod(abs, fs.FileMode(w.Permissions&0o777)|0o700); err != nil {
				return lf, true, fmt.Errorf("setting mode: %w", err)
			}
		} else if w.Type == wire.FileType_FILE_TYPE_FILE {
			if err := os.Chmod(abs, fs.FileMode(w.Permissions&0o777)); err != nil {
				return lf, true, fmt.Errorf("setting mode: %w", err)
			}
			mt := time.Unix(w.ModifiedS, int64(w.ModifiedNs))
			if err := os.Chtimes(abs, mt, mt); err != nil {
				return lf, true, fmt.Errorf("setting mtime: %w", err)
			}
		}
		lf, err := f.newRecord(n, abs)
		return lf, true, err
	}
	return lf, false, nil
}

// pending is a file whose content is complete in its temporary file but
// not yet durable or installed.
type pending struct {
	n        need
	tmp, abs string
	fi       fs.FileInfo // what was at abs before
	d        plan.Decision
	fd       *os.File // the temporary file, open for the durability sync
}

// pullEntry brings a file or symlink up to the winner. Symlinks and
// metadata-only changes are finished here; new content comes back as a
// pending file for the installer.
func (f *folder) pullEntry(ctx context.Context, n need) (index.LocalFile, *pending, error) {
	w := n.g.Winner
	abs, err := f.target(w.Name)
	if err != nil {
		return index.LocalFile{}, nil, err
	}
	d, fi, err := f.decide(n, abs)
	if err != nil {
		return index.LocalFile{}, nil, err
	}
	if lf, handled, err := f.settle(n, d, abs); handled {
		return lf, nil, err
	}
	if err := os.MkdirAll(path.Dir(abs), 0o755); err != nil {
		return index.LocalFile{}, nil, fmt.Errorf("creating parent directory: %w", err)
	}

	if w.Type == wire.FileType_FILE_TYPE_SYMLINK {
		tmp := tempName(abs, []byte(w.SymlinkTarget))
		os.Remove(tmp)
		f.noteTemp(tmp)
		if err := os.Symlink(w.SymlinkTarget, tmp); err != nil {
			return index.LocalFile{}, nil, fmt.Errorf("creating symlink: %w", err)
		}
		if err := f.install(n, tmp, abs, fi, d); err != nil {
			os.Remove(tmp)
			return index.LocalFile{}, nil, err
		}
		lf, err := f.newRecord(n, abs)
		return lf, nil, err
	}

	tmp := tempName(abs, w.BlocksHash)
	fd, err := f.fill(ctx, n, tmp)
	if err != nil {
		return index.LocalFile{}, nil, err
	}
	return index.LocalFile{}, &pending{n: n, tmp: tmp, abs: abs, fi: fi, d: d, fd: fd}, nil
}

// installer makes batches of pending files durable with one sync, then
// renames them into place. Batching matters: on journaling file systems a
// per-file fsync forces a journal commit that stalls every other create,
// which made many small files several times slower to pull.
func (f *folder) installer(ready <-chan *pending, done func(need, index.LocalFile, error)) {
	var batch []*pending
	for p := range ready {
		batch = append(batch[:0], p)
	drain:
		for len(batch) < 256 {
			select {
			case p, ok := <-ready:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		err := syncFiles(batch)
		for _, p := range batch {
			p.fd.Close()
			if isDiskFull(err) {
				os.Remove(p.tmp)
			}
		}
		type result struct {
			lf  index.LocalFile
			err error
		}
		results := make([]result, len(batch))
		dirs := map[string]bool{}
		for i, p := range batch {
			if err != nil {
				results[i].err = fmt.Errorf("syncing temporary file: %w", err)
				continue
			}
			if results[i].err = f.install(p.n, p.tmp, p.abs, p.fi, p.d); results[i].err == nil {
				results[i].lf, results[i].err = f.newRecord(p.n, p.abs)
				dirs[filepath.Dir(p.abs)] = true
			}
		}
		// The renames must be durable before the index says the files
		// are in place, or a crash could bring back old content that the
		// scanner would then announce as a newer edit.
		var derr error
		for d := range dirs {
			if err := fsutil.SyncDir(d); err != nil && derr == nil {
				derr = fmt.Errorf("syncing directory: %w", err)
			}
		}
		for i, p := range batch {
			r := results[i]
			if r.err == nil && derr != nil {
				r.err = derr
			}
			done(p.n, r.lf, r.err)
		}
	}
}

// syncFiles makes the temporary files' data durable: one syncfs(2) for a
// large batch where available, else an fsync per file.
func syncFiles(batch []*pending) error {
	if len(batch) >= 4 {
		if ok, err := syncFS(batch[0].fd); ok {
			return err
		}
	}
	for _, p := range batch {
		if err := p.fd.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// install renames tmp into place at abs as decision d says, first moving a
// conflicting local version aside or preserving the replaced one in the
// archive, and re-checking that nothing changed meanwhile.
func (f *folder) install(n need, tmp, abs string, fi fs.FileInfo, d plan.Decision) error {
	if err := fsutil.CheckParents(f.path(), n.g.Winner.Name); err != nil {
		return err
	}
	now, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		now, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("checking %s: %w", n.g.Winner.Name, err)
	}
	if diskState(n.local, n.g.Winner, now, abs) == plan.Changed {
		return errRescan
	}
	fi = now
	switch {
	case fi == nil:
	case d.Action == plan.Conflict:
		if err := f.moveToConflict(n, abs); err != nil {
			return err
		}
		fi = nil
	case d.Action == plan.Replace && fi.IsDir():
		removeTemps(abs)
		if err := os.Remove(abs); err != nil { // only an empty directory can give way
			return fmt.Errorf("replacing directory with a file: %w", err)
		}
		fi = nil
	case d.Action == plan.Replace && d.Archive:
		// A hard link keeps the old version in the archive while the
		// rename below replaces it atomically: no moment without a file.
		if err := f.preserve(n.g.Winner.Name, abs); err != nil {
			return fmt.Errorf("archiving the replaced version: %w", err)
		}
	case d.Action == plan.Replace:
	default:
		return errRescan // something appeared where nothing was expected
	}
	if fi == nil && f.caseInsensitive() {
		// Another name of this pass may have taken the spelling.
		if other := f.caseTwin(n.g.Winner.Name); other != "" {
			return &skipError{kind: FileErrorCaseCollision, reason: casePrefix + " from " + other + ", which exists here; this file system cannot hold both"}
		}
	}
	if fi == nil {
		// Nothing is (any longer) at abs: never overwrite something a
		// user created there since the check.
		err := fsutil.RenameNoReplace(tmp, abs)
		if errors.Is(err, fsutil.ErrExists) {
			return errRescan
		}
		if err != nil {
			return fmt.Errorf("installing file: %w", err)
		}
		removeStaleTemps(abs)
		return nil
	}
	if err := os.Rename(tmp, abs); err != nil {
		return fmt.Errorf("installing file: %w", err)
	}
	removeStaleTemps(abs)
	return nil
}

// removeStaleTemps deletes the temporary files of other versions of the
// file at abs (left by pulls of versions that were superseded before they
// finished): the file is now up to date, so they can never be resumed.
func removeStaleTemps(abs string) {
	dir, base := filepath.Split(abs)
	if len(base) > 180 {
		base = base[:180]
	}
	matches, _ := filepath.Glob(filepath.Join(dir, globEscape(fsutil.TempPrefix+base)+".*"))
	for _, m := range matches {
		if len(filepath.Base(m)) == len(fsutil.TempPrefix)+len(base)+1+8 { // .<8 hex digits>
			os.Remove(m)
		}
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// moveToConflict renames the local version at abs to its conflict name and
// has it scanned, so it syncs like any file. Copies beyond the folder's cap
// go to the version archive, oldest first.
func (f *folder) moveToConflict(n need, abs string) error {
	loser := n.local.Info
	t := time.Unix(loser.ModifiedS, int64(loser.ModifiedNs))
	short := f.m.shortName(loser.ModifiedBy)
	root := f.path()
	var name string
	for i := 0; ; i++ {
		if i > 100 {
			return fmt.Errorf("saving conflict copy: too many conflict copies of %s", loser.Name)
		}
		name = conflictName(loser.Name, t, short, i)
		cabs := fsutil.Native(root, name)
		err := fsutil.RenameNoReplace(abs, cabs)
		if err == nil {
			break
		}
		if !errors.Is(err, fsutil.ErrExists) {
			return fmt.Errorf("saving conflict copy: %w", err)
		}
		if same, _ := fsutil.SameContent(abs, cabs); same {
			// The same conflict was already saved (by us or a peer): the
			// content is kept there, so ours can give way.
			if err := os.Remove(abs); err != nil {
				return fmt.Errorf("saving conflict copy: %w", err)
			}
			break
		}
	}
	f.log.Info("Concurrent change; kept the other version as a conflict copy", slog.String("path", loser.Name), slog.String("copy", name))
	f.requestScan([]string{name}, false)
	f.capConflicts(loser.Name)
	return nil
}

// capConflicts moves the oldest conflict copies of name beyond the folder's
// cap to the version archive.
func (f *folder) capConflicts(name string) {
	limit := f.cfg().EffectiveMaxConflicts()
	if limit < 0 {
		return
	}
	dir := parentOf(name)
	ents, err := os.ReadDir(fsutil.Native(f.path(), dir))
	if err != nil {
		return
	}
	type copyOf struct {
		rel string
		t   time.Time
	}
	var copies []copyOf
	for _, e := range ents {
		rel := path.Join(dir, e.Name())
		if orig, t, _, ok := ParseConflictName(rel); ok && orig == name && !e.IsDir() {
			copies = append(copies, copyOf{rel, t})
		}
	}
	if len(copies) <= limit {
		return
	}
	slices.SortFunc(copies, func(a, b copyOf) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return strings.Compare(a.rel, b.rel)
	})
	for _, c := range copies[:len(copies)-limit] {
		if err := f.discard(c.rel, fsutil.Native(f.path(), c.rel), true); err != nil { // always archived
			f.log.Warn("Could not retire an old conflict copy", slog.String("path", c.rel), slog.Any("error", err))
			continue
		}
		f.log.Info("Moved an old conflict copy to the version archive (cap reached)", slog.String("path", c.rel), slog.Int("cap", limit))
		f.requestScan([]string{c.rel}, false)
	}
}

// ConflictName returns NAME.sync-conflict-YYYYMMDD-HHMMSS-SHORTID.EXT for a
// losing version modified at t by the device with the given short ID.
func ConflictName(name string, t time.Time, short string) string {
	return conflictName(name, t, short, 0)
}

// conflictName is ConflictName with a counter (i > 0) for copies that
// would otherwise share a name: NAME.sync-conflict-DATE-TIME-SHORTID-I.EXT.
func conflictName(name string, t time.Time, short string, i int) string {
	dir, base := path.Split(name)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if stem == "" { // ".bashrc"
		stem, ext = base, ""
	}
	tag := ".sync-conflict-" + t.UTC().Format("20060102-150405") + "-" + short
	if i > 0 {
		tag += "-" + strconv.Itoa(i)
	}
	if over := len(stem) + len(tag) + len(ext) - 255; over > 0 {
		// Keep the name within what file systems hold: shorten the stem
		// (at a UTF-8 boundary), then the extension if it is all there is.
		cut := max(len(stem)-over, 1)
		for cut > 1 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		stem = stem[:cut]
		if over := len(stem) + len(tag) + len(ext) - 255; over > 0 {
			ext = ""
		}
	}
	return dir + stem + tag + ext
}

var conflictRE = regexp.MustCompile(`^(.+)\.sync-conflict-(\d{8}-\d{6})-([A-Za-z0-9]+)(?:-\d+)?(\.[^./]*)?$`)

// ParseConflictName recognises a conflict copy's name and returns the
// name of the file it is a copy of, the losing version's modification time
// and the short ID of the device that made it.
func ParseConflictName(name string) (original string, t time.Time, device string, ok bool) {
	dir, base := path.Split(name)
	m := conflictRE.FindStringSubmatch(base)
	if m == nil {
		return "", time.Time{}, "", false
	}
	t, err := time.Parse("20060102-150405", m[2])
	if err != nil {
		return "", time.Time{}, "", false
	}
	return dir + m[1] + m[4], t, m[3], true
}

// tempName is the hidden temporary file for a version: same directory, and
// a name derived from the content hash so an interrupted pull finds and
// reuses it.
func tempName(abs string, hash []byte) string {
	dir, base := path.Split(abs)
	if len(base) > 180 {
		base = base[:180]
	}
	h := sha256.Sum256(hash)
	return dir + fsutil.TempPrefix + base + "." + hex.EncodeToString(h[:4])
}

// fill makes tmp hold the winner's content (returned open; the caller
// makes it durable and closes it): blocks already in tmp (an
// interrupted earlier pull) are kept, blocks found in local files are
// copied, and the rest are fetched from peers in parallel. Every block is
// verified before it is written.
func (f *folder) fill(ctx context.Context, n need, tmp string) (_ *os.File, err error) {
	w := n.g.Winner
	f.noteTemp(tmp)
	fd, err := fsutil.OpenTemp(tmp)
	if err != nil {
		return nil, fmt.Errorf("opening temporary file: %w", err)
	}
	ok := false
	defer func() {
		if ok {
			return
		}
		fd.Close()
		if isDiskFull(err) || isDiskFull(context.Cause(ctx)) {
			os.Remove(tmp) // free the space; nothing partial stays behind
			return
		}
		if ctx.Err() == nil {
			// Keep partial data for a resume unless it is useless.
			if st, err := os.Stat(tmp); err == nil && st.Size() == 0 {
				os.Remove(tmp)
			}
		}
	}()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening temporary file: %w", err)
	}
	existing := st.Size()
	if existing != w.Size && existing != 0 { // a new file grows as blocks are written
		if err := fd.Truncate(w.Size); err != nil {
			return nil, fmt.Errorf("sizing temporary file: %w", err)
		}
	}
	var missing []*wire.BlockInfo
	buf := make([]byte, 0)
	for _, b := range w.Blocks {
		if b.Offset+int64(b.Size) <= existing {
			if cap(buf) < int(b.Size) {
				buf = make([]byte, b.Size)
			}
			buf = buf[:b.Size]
			if _, err := fd.ReadAt(buf, b.Offset); err == nil {
				if h := sha256.Sum256(buf); bytes.Equal(h[:], b.Hash) {
					continue // already there from an interrupted pull
				}
			}
		}
		if data, err := f.readBlock(ctx, b.Hash, b.Size, true); err == nil {
			if err := f.writeAt(fd, w.Name, data, b.Offset); err != nil {
				return nil, fmt.Errorf("writing temporary file: %w", err)
			}
			f.reusedBytes.Add(int64(b.Size))
			continue
		}
		missing = append(missing, b)
	}

	if len(missing) > 0 {
		avail := f.m.remoteOnly(n.g.Availability)
		if err := f.fetchAll(ctx, w, avail, missing, fd); err != nil {
			return nil, err
		}
	}
	if err := fd.Chmod(fs.FileMode(w.Permissions & 0o777)); err != nil {
		return nil, fmt.Errorf("setting mode: %w", err)
	}
	mt := time.Unix(w.ModifiedS, int64(w.ModifiedNs))
	if err := os.Chtimes(tmp, mt, mt); err != nil {
		return nil, fmt.Errorf("setting mtime: %w", err)
	}
	ok = true
	return fd, nil
}

// writeAt writes a block to a temporary file.
func (f *folder) writeAt(fd *os.File, name string, data []byte, off int64) error {
	if h := f.m.opts.WriteFault; h != nil {
		if err := h(f.id, name); err != nil {
			return &fs.PathError{Op: "write", Path: fd.Name(), Err: err}
		}
	}
	_, err := fd.WriteAt(data, off)
	return err
}

// fetchAll fetches blocks from the devices that have the file, spreading
// requests over all of them, blocksInFlight at a time.
func (f *folder) fetchAll(ctx context.Context, w *wire.FileInfo, avail []identity.DeviceID, blocks []*wire.BlockInfo, fd *os.File) error {
	if len(f.m.connected(avail)) == 0 {
		return errNoPeers
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, blocksInFlight)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	var written atomic.Int64
	for i, b := range blocks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			data, err := f.fetch(ctx, w, b, avail, i)
			if err == nil {
				err = f.writeAt(fd, w.Name, data, b.Offset)
				if err != nil {
					err = fmt.Errorf("writing temporary file: %w", err)
				} else if n := written.Add(int64(len(data))); n/writebackEvery != (n-int64(len(data)))/writebackEvery {
					startWriteback(fd)
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// fetch gets one block from the first device that serves it with the right
// hash, starting with a different device for each block.
func (f *folder) fetch(ctx context.Context, w *wire.FileInfo, b *wire.BlockInfo, avail []identity.DeviceID, start int) ([]byte, error) {
	peers := f.m.connected(avail)
	if len(peers) == 0 {
		return nil, errNoPeers
	}
	var lastErr error
	for i := range peers {
		p := peers[(start+i)%len(peers)]
		c := p.conn
		ok, sealed := f.exchangeMode(p)
		if !ok {
			lastErr = fmt.Errorf("device %s has not proved the folder key in this session", c.ID().Short())
			continue
		}
		req := &wire.Request{Folder: f.id, Hash: b.Hash, Size: b.Size, Name: w.Name, Offset: b.Offset}
		var twinBlock *wire.BlockInfo
		if sealed {
			var err error
			if req, twinBlock, err = f.sealedRequest(p, w, b); err != nil {
				lastErr = err
				continue
			}
		}
		resp, err := p.request(ctx, req)
		if err != nil {
			lastErr = fmt.Errorf("requesting block from %s: %w", c.ID().Short(), err)
			continue
		}
		if resp.Code != wire.ErrorCode_ERROR_CODE_NONE {
			lastErr = fmt.Errorf("device %s: %s", c.ID().Short(), resp.Code)
			continue
		}
		if twinBlock != nil {
			plain, err := f.openSealed(resp.Data, twinBlock, b)
			if err != nil {
				f.log.Warn("Encrypted peer sent a block that does not open; discarded", c.ID().LogAttr(), slog.String("path", w.Name), slog.Int64("offset", b.Offset), slog.Any("error", err))
				lastErr = fmt.Errorf("device %s sent a corrupt block", c.ID().Short())
				continue
			}
			f.pulledBytes.Add(int64(len(resp.Data)))
			return plain, nil
		}
		if h := sha256.Sum256(resp.Data); len(resp.Data) != int(b.Size) || !bytes.Equal(h[:], b.Hash) {
			f.log.Warn("Device sent a block with the wrong hash; discarded", c.ID().LogAttr(), slog.String("path", w.Name), slog.Int64("offset", b.Offset))
			lastErr = fmt.Errorf("device %s sent a corrupt block", c.ID().Short())
			continue
		}
		f.pulledBytes.Add(int64(len(resp.Data)))
		return resp.Data, nil
	}
	return nil, lastErr
}

// pullDelete applies a deletion.
func (f *folder) pullDelete(n need) (index.LocalFile, error) {
	w := n.g.Winner
	abs, err := f.target(w.Name)
	if errors.Is(err, fsutil.ErrSymlinkInPath) {
		// A parent is now a file or a symlink: nothing of ours can be
		// at this path, so the deletion only needs recording (after the
		// scanner has noticed, if we still had it).
		if n.local != nil && !n.local.Info.Deleted {
			return index.LocalFile{}, errRescan
		}
		return f.newRecord(n, "")
	}
	if err != nil {
		return index.LocalFile{}, err
	}
	d, fi, err := f.decide(n, abs)
	if err != nil {
		return index.LocalFile{}, err
	}
	if lf, handled, err := f.settle(n, d, abs); handled {
		return lf, err
	}
	if d.Action != plan.Delete {
		return index.LocalFile{}, fmt.Errorf("unexpected decision %v for a deletion", d.Action)
	}
	if fi != nil {
		if fi.IsDir() {
			removeTemps(abs) // leftovers of abandoned pulls must not keep it alive
			if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return index.LocalFile{}, errRescan // something appeared inside meanwhile
			}
		} else if err := f.discard(w.Name, abs, d.Archive); err != nil {
			return index.LocalFile{}, fmt.Errorf("deleting: %w", err)
		}
	}
	removeStaleTemps(abs)
	return f.newRecord(n, abs)
}

// removeTemps deletes Shoal's temporary files directly inside dir.
func removeTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), fsutil.TempPrefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// maxRescans is how many rescans in a row a path may ask for before the
// puller stops asking and retries at its normal pace.
const maxRescans = 3

// rescanLoop counts a rescan request for name and reports whether there
// were too many in a row.
func (f *folder) rescanLoop(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.rescans == nil {
		f.mu.rescans = map[string]int{}
	}
	f.mu.rescans[name]++
	if f.mu.rescans[name] > maxRescans {
		delete(f.mu.rescans, name)
		return true
	}
	return false
}

func (f *folder) rescanDone(name string) {
	f.mu.Lock()
	delete(f.mu.rescans, name)
	f.mu.Unlock()
}

// noteTemp remembers a temporary file this process made.
func (f *folder) noteTemp(p string) {
	f.mu.Lock()
	if f.mu.temps == nil {
		f.mu.temps = map[string]bool{}
	}
	f.mu.temps[p] = true
	f.mu.Unlock()
}

// dropTemps runs when a pull pass finished with nothing left to retry:
// no partial file can be resumed any more, so the temporary files of
// superseded versions go. The first time after start it sweeps the whole
// folder, which also catches what a crash left behind.
func (f *folder) dropTemps() {
	f.mu.Lock()
	temps, swept := f.mu.temps, f.mu.swept
	f.mu.temps, f.mu.swept, f.mu.rescans = nil, true, nil
	f.mu.Unlock()
	if !swept {
		f.sweepTemps(0)
		return
	}
	for p := range temps {
		os.Remove(p) // most were renamed into place already
	}
}

// sweepTemps deletes temporary files older than maxAge anywhere in the
// folder: partial pulls of versions that were superseded before they
// finished. Younger ones are kept so an interrupted pull can resume.
func (f *folder) sweepTemps(maxAge time.Duration) {
	root := f.path()
	cutoff := time.Now().Add(-maxAge)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == fsutil.StateDir {
			return fs.SkipDir
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), fsutil.TempPrefix) {
			if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) {
				os.Remove(p)
			}
		}
		return nil
	})
}
