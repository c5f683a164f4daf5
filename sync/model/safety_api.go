package model

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/sync/versions"
	"github.com/shoalsync/shoal/transport/wire"
)

// errNotRunning means a folder operation was asked of a folder whose runner
// is not serving (stopped, or waiting for its path to come back).
var errNotRunning = errors.New("folder is not running")

// runningFolder returns the folder with this ID, or ErrNotFound.
func (m *Model) runningFolder(id string) (*folder, error) {
	f := m.folderByID(id)
	if f == nil || f.idx == nil {
		return nil, fmt.Errorf("%w: folder %s", ErrNotFound, id)
	}
	return f, nil
}

// Conflicts lists the conflict copies in a folder, or in every folder when
// folderID is empty.
func (m *Model) Conflicts(ctx context.Context, folderID string) ([]Conflict, error) {
	var fs []*folder
	if folderID == "" {
		m.mu.Lock()
		fs = m.folderListLocked()
		m.mu.Unlock()
	} else {
		f, err := m.runningFolder(folderID)
		if err != nil {
			return nil, err
		}
		fs = []*folder{f}
	}
	out := []Conflict{}
	for _, f := range fs {
		if f.idx == nil {
			continue
		}
		cs, err := f.conflicts()
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

// conflicts lists the live conflict copies the index knows.
func (f *folder) conflicts() ([]Conflict, error) {
	var out []Conflict
	err := f.idx.WalkLocal("", func(lf index.LocalFile) error {
		r := lf.Info
		if r.Deleted || r.Type == wire.FileType_FILE_TYPE_DIRECTORY {
			return nil
		}
		orig, t, dev, ok := ParseConflictName(r.Name)
		if !ok {
			return nil
		}
		out = append(out, Conflict{Folder: f.id, Path: r.Name, Original: orig, Device: dev, Time: t, Size: r.Size})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing conflicts of folder %s: %w", f.id, err)
	}
	return out, nil
}

// Versions lists the archived versions of path in a folder, newest first.
func (m *Model) Versions(ctx context.Context, folderID, p string) ([]Version, error) {
	f, err := m.runningFolder(folderID)
	if err != nil {
		return nil, err
	}
	rel, err := cleanRel(p)
	if err != nil {
		return nil, err
	}
	vs, err := f.archive().List(rel)
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(vs))
	for _, v := range vs {
		out = append(out, apiVersion(v))
	}
	return out, nil
}

func apiVersion(v versions.Version) Version {
	return Version{Path: v.Path, ArchivedAt: v.ArchivedAt, ModTime: v.ModTime, Size: v.Size}
}

// cleanRel checks a folder-relative path given by a user.
func cleanRel(p string) (string, error) {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/")
	if p == "" || wire.ValidName(p) != nil || fsutil.Internal(p) {
		return "", fmt.Errorf("%w: path %q (give a path inside the folder)", ErrInvalid, p)
	}
	return p, nil
}

// RestoreVersion puts an archived version back in place. The current file,
// if any, is archived first. The restore is a local change that then syncs.
func (m *Model) RestoreVersion(ctx context.Context, folderID string, req RestoreRequest) (Version, error) {
	f, err := m.runningFolder(folderID)
	if err != nil {
		return Version{}, err
	}
	rel, err := cleanRel(req.Path)
	if err != nil {
		return Version{}, err
	}
	var out Version
	err = f.do(ctx, func(ctx context.Context) error {
		a := f.archive()
		v, err := a.Pick(rel, req.At)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: no archived version of %s", ErrNotFound, rel)
		}
		if err != nil {
			return err
		}
		if err := a.Restore(v, time.Now()); err != nil {
			return fmt.Errorf("restoring %s: %w", rel, err)
		}
		out = apiVersion(v)
		f.log.Info("Restored an archived version", "path", rel, "archivedAt", v.ArchivedAt)
		f.requestScan([]string{rel}, false)
		return nil
	})
	return out, err
}

// UpdateFolder changes a folder's settings.
func (m *Model) UpdateFolder(ctx context.Context, folderID string, req UpdateFolderRequest) (FolderStatus, error) {
	old, cur, err := m.mutateConfig(func(c *config.Config) error {
		for i := range c.Folders {
			fc := &c.Folders[i]
			if fc.ID != folderID {
				continue
			}
			if req.Label != nil {
				fc.Label = *req.Label
				if fc.Label == "" {
					fc.Label = filepath.Base(fc.Path)
				}
			}
			if req.Mode != nil {
				fc.Mode = *req.Mode
			}
			if req.Versioning != nil {
				v := *req.Versioning
				fc.Versioning = &v
			}
			if req.MaxConflicts != nil {
				fc.MaxConflicts = *req.MaxConflicts
			}
			return nil
		}
		return fmt.Errorf("%w: folder %s", ErrNotFound, folderID)
	})
	if err != nil {
		return FolderStatus{}, err
	}
	ofc, _ := old.Folder(folderID)
	fc, _ := cur.Folder(folderID)
	f := m.folderByID(folderID)
	if f != nil {
		f.setConfig(fc)
		if ofc.EffectiveMode() != fc.EffectiveMode() {
			f.log.Info("Folder mode changed", "from", ofc.EffectiveMode(), "to", fc.EffectiveMode())
			select {
			case f.modeChanged <- struct{}{}:
			default: // one is pending already
			}
		}
	}
	return m.folderStatus(folderID)
}

// OverrideFolder makes every device match this send-only folder: each path
// where the shared state differs gets this device's version (or its
// absence) announced as newer than every other.
func (m *Model) OverrideFolder(ctx context.Context, folderID string) error {
	f, err := m.runningFolder(folderID)
	if err != nil {
		return err
	}
	if f.mode() != modeSendOnly {
		return fmt.Errorf("%w: folder %s is %s; override applies to send-only folders", ErrInvalid, folderID, f.mode())
	}
	return f.do(ctx, f.override)
}

func (f *folder) override(ctx context.Context) error {
	// Never announce "absent" for files on a drive that is not there.
	if err := f.checkRoot(); err != nil {
		return err
	}
	var batch []index.LocalFile
	now := time.Now()
	root := f.path()
	err := f.idx.Need(func(g index.GlobalEntry, local *index.LocalFile) error {
		w := g.Winner
		var lv *wire.Vector
		if local != nil {
			lv = local.Info.Version
		}
		v := index.Bump(index.Merge(lv, w.Version), f.m.localID)
		if f.ignoredBy()(w.Name, w.Type == wire.FileType_FILE_TYPE_DIRECTORY) {
			return nil
		}
		if err := fsutil.CheckParents(root, w.Name); err != nil && !errors.Is(err, fsutil.ErrSymlinkInPath) {
			f.requestScan([]string{w.Name}, false)
			return nil // cannot tell what is there: leave it
		}
		abs := fsutil.Native(root, w.Name)
		fi, err := os.Lstat(abs)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return nil // unknown is not absent
		}
		if local != nil && !local.Info.Deleted && fi != nil {
			if diskState(local, w, fi, abs) != 0 { // not as recorded: scan first
				f.requestScan([]string{w.Name}, false)
				return nil
			}
			info := cloneInfo(local.Info)
			info.Version = v
			batch = append(batch, index.LocalFile{Info: info, Inode: local.Inode})
			return nil
		}
		if fi != nil {
			f.requestScan([]string{w.Name}, false) // unrecorded: scan first
			return nil
		}
		batch = append(batch, index.LocalFile{Info: &wire.FileInfo{
			Name: w.Name, Type: w.Type, Deleted: true, Version: v, ModifiedBy: f.m.localID,
			ModifiedS: now.Unix(), ModifiedNs: int32(now.Nanosecond()),
		}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing differences: %w", err)
	}
	if err := f.idx.UpdateLocal(batch); err != nil {
		return fmt.Errorf("recording the override: %w", err)
	}
	f.log.Info("Overrode the shared state with this device's", "paths", len(batch))
	f.notifyLocalChanged()
	return nil
}

// RevertFolder puts back the shared state in a receive-only folder; local
// changes go to the version archive first.
func (m *Model) RevertFolder(ctx context.Context, folderID string) error {
	f, err := m.runningFolder(folderID)
	if err != nil {
		return err
	}
	if f.mode() != modeReceiveOnly {
		return fmt.Errorf("%w: folder %s is %s; revert applies to receive-only folders", ErrInvalid, folderID, f.mode())
	}
	return f.do(ctx, f.revert)
}

func (f *folder) revert(ctx context.Context) error {
	// Record anything changed since the last scan first, so it is reverted too.
	if err := f.scanNow(ctx, nil); err != nil {
		return err
	}
	var changed []*wire.FileInfo
	err := f.idx.WalkLocal("", func(lf index.LocalFile) error {
		if lf.Info.LocalFlags&flagLocalOnly != 0 {
			changed = append(changed, lf.Info)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing local changes: %w", err)
	}
	// Children before parents, so emptied directories can go.
	slices.SortFunc(changed, func(a, b *wire.FileInfo) int { return strings.Compare(b.Name, a.Name) })
	root := f.path()
	var drop []string
	for _, r := range changed {
		abs := fsutil.Native(root, r.Name)
		if err := fsutil.CheckParents(root, r.Name); err != nil {
			continue
		}
		fi, err := os.Lstat(abs)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return fmt.Errorf("reverting %s: %w", r.Name, err)
		case fi.IsDir():
			g, ok, _ := f.idx.Global(r.Name)
			if !ok || g.Winner.Deleted || g.Winner.Type != wire.FileType_FILE_TYPE_DIRECTORY {
				removeTemps(abs)
				if err := os.Remove(abs); err != nil {
					f.log.Warn("Not removing a directory that still holds files", "path", r.Name)
					continue
				}
			}
		default:
			// Local changes always go to the archive, whatever the policy.
			if _, err := f.archive().Archive(r.Name, time.Now()); err != nil {
				return fmt.Errorf("reverting %s: %w", r.Name, err)
			}
		}
		drop = append(drop, r.Name)
	}
	if err := f.idx.DropLocal(drop); err != nil {
		return err
	}
	f.log.Info("Reverted local changes", "paths", len(drop))
	f.notifyLocalChanged()
	f.pullSoon()
	return nil
}

// Differences lists the paths where a send-only or receive-only folder
// differs from the shared state.
func (m *Model) Differences(ctx context.Context, folderID string) ([]Difference, error) {
	f, err := m.runningFolder(folderID)
	if err != nil {
		return nil, err
	}
	return f.differences()
}

func (f *folder) differences() ([]Difference, error) {
	out := []Difference{}
	switch f.mode() {
	case modeSendOnly:
		err := f.idx.Need(func(g index.GlobalEntry, local *index.LocalFile) error {
			var l *wire.FileInfo
			if local != nil {
				l = local.Info
			}
			out = append(out, Difference{Path: g.Winner.Name, Kind: DiffRemoteChange, Local: describe(l), Global: describe(g.Winner)})
			return nil
		})
		if err != nil {
			return nil, err
		}
	case modeReceiveOnly:
		err := f.idx.WalkLocal("", func(lf index.LocalFile) error {
			if lf.Info.LocalFlags&flagLocalOnly == 0 {
				return nil
			}
			d := Difference{Path: lf.Info.Name, Kind: DiffLocalChange, Local: describe(lf.Info), Global: "absent"}
			out = append(out, d)
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i := range out {
			if g, ok, err := f.idx.Global(out[i].Path); err == nil && ok {
				out[i].Global = describeRemote(f, out[i].Path, g)
			}
		}
	}
	return out, nil
}

// describeRemote describes the newest version other devices hold of name.
func describeRemote(f *folder, name string, g index.GlobalEntry) string {
	var best *wire.FileInfo
	for _, d := range g.Availability {
		if d == f.m.local {
			continue
		}
		if r, ok, err := f.idx.Remote(d, name); err == nil && ok && (best == nil || index.Compare(r.Version, best.Version) == index.Greater) {
			best = r
		}
	}
	if best == nil {
		return "absent"
	}
	return describe(best)
}

func describe(r *wire.FileInfo) string {
	switch {
	case r == nil:
		return "absent"
	case r.Deleted:
		return "deleted"
	case r.Type == wire.FileType_FILE_TYPE_DIRECTORY:
		return "directory"
	case r.Type == wire.FileType_FILE_TYPE_SYMLINK:
		return "symlink"
	}
	return "file"
}
