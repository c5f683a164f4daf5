package model

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/sync/ignore"
	"github.com/shoalsync/shoal/sync/versions"
	"github.com/shoalsync/shoal/transport/wire"
)

const (
	modeSendReceive = config.ModeSendReceive
	modeSendOnly    = config.ModeSendOnly
	modeReceiveOnly = config.ModeReceiveOnly
)

// flagLocalOnly marks a local record of a receive-only folder that records a
// local change: it is kept in the index but never sent.
const flagLocalOnly = index.FlagLocalOnly

// flagForgotten marks a deletion adopted while the directory stays on disk
// for the ignored files inside.
const flagForgotten = index.FlagForgotten

func (f *folder) cfg() config.Folder {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.cfg
}

func (f *folder) mode() string { return f.cfg().EffectiveMode() }

// localFlags are the flags of records this device's own changes make.
func (f *folder) localFlags() uint32 {
	if f.mode() == modeReceiveOnly {
		return flagLocalOnly
	}
	return 0
}

// archiving reports whether replaced and deleted files go to the archive.
func (f *folder) archiving() bool {
	return f.cfg().EffectiveVersioning().Type != config.VersioningOff
}

// casePrefix starts the problem text of a case collision.
const casePrefix = "differs only in case"

// nameProblem says why this device cannot hold the winner w ("" when it can).
func (f *folder) nameProblem(w *wire.FileInfo, local *index.LocalFile) string {
	if p := ignoreFileProblem(w); p != "" {
		return p
	}
	return f.nameProblemOf(w.Name, local)
}

// ignoreFileProblem refuses a shared ignore file the loader would refuse.
func ignoreFileProblem(w *wire.FileInfo) string {
	if w.Name != ignore.File || w.Deleted {
		return ""
	}
	if w.Type != wire.FileType_FILE_TYPE_FILE {
		return "the shared ignore file must be a regular file; not applied"
	}
	if w.Size > ignore.MaxFileSize {
		return fmt.Sprintf("the shared ignore file is over %d bytes; not applied", ignore.MaxFileSize)
	}
	return ""
}

// nameProblemOf says why this device cannot hold the name.
func (f *folder) nameProblemOf(name string, local *index.LocalFile) string {
	if !fsutil.IsNFC(name) {
		return "the name is not in Unicode normalization form C; Shoal devices send only NFC names"
	}
	if f.m.opts.WindowsNames || runtime.GOOS == "windows" {
		if p := fsutil.WindowsProblem(name); p != "" {
			return p + ": not supported on this device"
		}
	}
	if f.caseInsensitive() && (local == nil || local.Info.Deleted) {
		if other := f.caseTwin(name); other != "" {
			return casePrefix + " (or Unicode normalization) from " + other + ", which exists here; this file system cannot hold both"
		}
	}
	return ""
}

// caseInsensitive reports whether the folder's file system treats names
// that differ only in case as the same (probed once per folder start; the
// CaseInsensitive option forces it, for tests).
func (f *folder) caseInsensitive() bool {
	if f.m.opts.CaseInsensitive {
		return true
	}
	f.caseOnce.Do(func() {
		dir := filepath.Join(f.path(), fsutil.StateDir)
		probe := filepath.Join(dir, "case-probe")
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			return
		}
		defer os.Remove(probe)
		if _, err := os.Lstat(filepath.Join(dir, "CASE-PROBE")); err == nil {
			f.caseFold = true
		}
	})
	return f.caseFold
}

// caseTwin returns the path of an existing entry that a case-insensitive
// file system would take for name (any component), or "".
func (f *folder) caseTwin(name string) string {
	root := f.path()
	dir := ""
	for comp := range strings.SplitSeq(name, "/") {
		ents, err := os.ReadDir(fsutil.Native(root, dir))
		if err != nil {
			return ""
		}
		key := fsutil.FoldKey(comp)
		found := false
		for _, e := range ents {
			if e.Name() == comp {
				found = true
				break
			}
		}
		if !found {
			for _, e := range ents {
				if fsutil.FoldKey(e.Name()) == key {
					return path.Join(dir, e.Name())
				}
			}
			return ""
		}
		dir = path.Join(dir, comp)
	}
	return ""
}

// ignores returns the ignore rules in effect (nil: none loaded; matches nothing).
func (f *folder) ignores() *ignore.Matcher { return f.ign.Load() }

// ignoredBy returns the ignore check of the rules in effect now. The shared
// .shoalignore itself is never ignored: every device must get the same rules.
func (f *folder) ignoredBy() func(rel string, isDir bool) bool {
	m := f.ignores()
	return func(rel string, isDir bool) bool { return rel != ignore.File && m.Match(rel, isDir) }
}

// loadIgnores (re)reads .shoalignore and .shoalignore.local. It reports
// whether the rules changed since the last load. A broken ignore file
// keeps the rules in effect and is reported as a folder file error.
func (f *folder) loadIgnores() (changed bool) {
	m, err := ignore.Load(f.path())
	if err != nil {
		err = fmt.Errorf("ignore rules cannot be loaded (%w); fix or remove the file", err)
		f.mu.Lock()
		f.mu.ignErr = err
		f.mu.Unlock()
		if f.ign.Load() != nil {
			f.log.Warn("Keeping the ignore rules in effect", "error", err)
		}
		return false
	}
	f.mu.Lock()
	f.mu.ignErr = nil
	f.mu.Unlock()
	old := f.ign.Load()
	if old != nil && old.Hash() == m.Hash() {
		return false
	}
	for _, p := range m.Problems() {
		f.log.Warn("Ignore rule skipped", "problem", p)
	}
	f.ign.Store(m)
	if old != nil {
		f.log.Info("Ignore rules changed")
	}
	return old != nil
}

// ignoreErr is the error that stops scans and pulls: the ignore files
// exist but could not be loaded, and no earlier rules are in effect, so
// going on could send or overwrite files the rules protect.
func (f *folder) ignoreErr() error {
	f.mu.Lock()
	err := f.mu.ignErr
	f.mu.Unlock()
	if err == nil || f.ign.Load() != nil {
		return nil
	}
	return err
}

// op is work that must run in the folder loop, between scans and pulls.
type op struct {
	fn   func(context.Context) error
	done chan error
}

// do runs fn in the folder loop and waits for it.
func (f *folder) do(ctx context.Context, fn func(context.Context) error) error {
	o := op{fn: fn, done: make(chan error, 1)}
	select {
	case f.opCh <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-f.done:
		return errNotRunning
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scanNow scans everything now, in the folder loop.
func (f *folder) scanNow(ctx context.Context, paths []string) error {
	f.requestScan(paths, len(paths) == 0)
	f.runScan(ctx)
	if f.hasError() {
		f.mu.Lock()
		err := f.mu.err
		f.mu.Unlock()
		return err
	}
	return nil
}

// applyMode catches up with a mode change: leaving receive-only, the local
// changes that were kept back are announced.
func (f *folder) applyMode() {
	if f.mode() == modeReceiveOnly {
		return
	}
	var batch []index.LocalFile
	err := f.idx.WalkLocal("", func(lf index.LocalFile) error {
		if lf.Info.LocalFlags != 0 {
			info := cloneInfo(lf.Info)
			info.LocalFlags = 0
			batch = append(batch, index.LocalFile{Info: info, Inode: lf.Inode})
		}
		return nil
	})
	if err == nil {
		err = f.idx.UpdateLocal(batch)
	}
	if err != nil {
		f.setError(fmt.Errorf("announcing local changes after a mode change: %w", err))
		return
	}
	if len(batch) > 0 {
		f.log.Info("Announcing local changes kept back in receive-only mode", "paths", len(batch))
		f.notifyLocalChanged()
	}
	f.pullSoon()
}

// cleanArchive applies the folder's archive policy.
func (f *folder) cleanArchive() {
	v := f.cfg().EffectiveVersioning()
	n, err := f.archive().Clean(versions.Policy{Type: v.Type, KeepDays: v.KeepDays, MaxAgeDays: v.MaxAgeDays}, time.Now())
	if err != nil {
		f.log.Warn("Cleaning the version archive failed", "error", err)
	}
	if n > 0 {
		f.log.Info("Cleaned the version archive", "removed", n)
	}
}

// archive returns the folder's version archive.
func (f *folder) archive() *versions.Archive { return versions.New(f.path()) }

// discard removes the file or symlink at rel (abs) for sync: into the
// version archive when keep is set, else for good.
func (f *folder) discard(rel, abs string, keep bool) error {
	if !keep {
		if err := os.Remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if _, err := f.archive().Archive(rel, time.Now()); err != nil {
		if errors.Is(err, syscall.ENAMETOOLONG) {
			// The archive name (the name plus a time tag) is too long
			// for the file system: the file goes without a copy.
			f.log.Warn("Name too long to archive; deleting without a copy", "path", rel)
			return os.Remove(abs)
		}
		return err
	}
	return nil
}

// preserve keeps a copy of the file at rel in the archive before sync
// replaces it.
func (f *folder) preserve(rel, abs string) error {
	_, err := f.archive().Keep(rel, time.Now())
	if errors.Is(err, syscall.ENAMETOOLONG) {
		f.log.Warn("Name too long to archive; replacing without a copy", "path", rel)
		return nil
	}
	return err
}

// ErrDiskFull marks a pull stopped because the disk is full. The folder
// retries by itself.
var ErrDiskFull = errors.New("disk full")

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, ErrDiskFull)
}

// recount updates the conflict-copy and local-change counts of the status.
func (f *folder) recount() {
	var conflicts, localOnly int64
	err := f.idx.WalkLocal("", func(lf index.LocalFile) error {
		r := lf.Info
		if r.LocalFlags&flagLocalOnly != 0 {
			localOnly++
		}
		if r.Deleted {
			return nil
		}
		if r.Type != wire.FileType_FILE_TYPE_DIRECTORY && strings.Contains(r.Name, ".sync-conflict-") {
			if _, _, _, ok := ParseConflictName(r.Name); ok {
				conflicts++
			}
		}
		return nil
	})
	if err != nil {
		return
	}
	f.nConflicts.Store(conflicts)
	f.nLocalOnly.Store(localOnly)
}
