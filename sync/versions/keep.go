package versions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/shoalsync/shoal/sync/fsutil"
)

// Keep puts a copy of the file or symlink at folderRoot/rel into the
// archive while leaving it in place: a hard link, so the caller can then
// replace the file atomically (rename over it) with no moment in which
// neither version exists. Where hard links are not supported, the content
// is copied instead. The caller must replace the file by renaming over it,
// never by writing into it: the archived copy shares its inode.
func (a *Archive) Keep(rel string, now time.Time) (Version, error) {
	v, err := a.keep(rel, now)
	if err != nil {
		return Version{}, fmt.Errorf("archiving %s: %w", rel, err)
	}
	return v, nil
}

func (a *Archive) keep(rel string, now time.Time) (Version, error) {
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
	adirRel := archiveDirRel(path.Clean(dir))
	adir := fsutil.Native(a.root, adirRel)
	at := now.UTC().Truncate(time.Millisecond)
	var dst string
	a.mu.RLock()
	defer a.mu.RUnlock()
	seq := 0
	for retries := 0; ; {
		if err := mkdirs(a.root, adirRel, 1); err != nil {
			return Version{}, fmt.Errorf("creating archive directory: %w", err)
		}
		dst = filepath.Join(adir, formatName(base, at, seq))
		err := linkOrCopy(src, dst, fi)
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, fs.ErrExist):
			if seq++; seq > maxSeq {
				return Version{}, fmt.Errorf("too many versions archived at %v", at)
			}
		case errors.Is(err, fs.ErrNotExist) && retries < 10:
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
	return Version{Path: rel, ArchivedAt: at, ModTime: fi.ModTime(), Size: fi.Size(), File: dst, seq: seq}, nil
}

// linkOrCopy hard-links src to dst (a symlink itself, never its target),
// copying where the file system has no hard links. It never overwrites dst.
func linkOrCopy(src, dst string, fi fs.FileInfo) error {
	err := os.Link(src, dst)
	if err == nil || errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, rerr := os.Readlink(src)
		if rerr != nil {
			return rerr
		}
		return os.Symlink(t, dst)
	}
	in, err := fsutil.OpenNoFollow(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}
