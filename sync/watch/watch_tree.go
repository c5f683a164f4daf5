package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/shoalsync/shoal/sync/fsutil"
)

// dirNode is one watched directory; the tree mirrors the watched part of the
// folder so that dropping a subtree costs the size of that subtree.
type dirNode struct {
	children map[string]*dirNode
	ino      uint64 // the directory's inode when it was watched (0: unknown)
}

func (n *dirNode) child(name string) *dirNode {
	if n.children == nil {
		n.children = make(map[string]*dirNode)
	}
	c := n.children[name]
	if c == nil {
		c = &dirNode{}
		n.children[name] = c
	}
	return c
}

// lookup returns the node of a watched directory, or nil.
func (s *state) lookup(rel string) *dirNode {
	n := s.tree
	for rel != "" && n != nil {
		var c string
		c, rel, _ = strings.Cut(rel, "/")
		n = n.children[c]
	}
	return n
}

// parentOf returns the node of rel's parent directory (nil if not watched)
// and rel's base name.
func (s *state) parentOf(rel string) (*dirNode, string) {
	dir, name := path.Split(rel)
	if dir == "" {
		return s.tree, name
	}
	return s.lookup(dir[:len(dir)-1]), name
}

func (s *state) watchDir(rel string) error {
	if s.w.addHook != nil {
		if err := s.w.addHook(rel); err != nil {
			return err
		}
	}
	return s.fsw.Add(s.abs(rel))
}

// addTree watches a new directory and every directory below it. Each
// directory is watched before it is listed, so an entry is either seen in the
// listing or produces an event.
func (s *state) addTree(rel string) {
	parent, name := s.parentOf(rel)
	if parent == nil {
		// The parent's watch was dropped (renamed or removed) after this event
		// was queued; the parent's own event covers this path.
		return
	}
	if err := s.watchDir(rel); err != nil {
		s.addFailed(rel, err)
		return
	}
	n := len(parent.children)
	node := parent.child(name)
	if len(parent.children) != n {
		s.w.nwatched.Add(1)
	}
	s.noteInode(rel, node)
	s.fill(rel, node)
}

// fill watches the subdirectories of the watched directory rel, recursively.
func (s *state) fill(rel string, node *dirNode) {
	entries, err := os.ReadDir(s.abs(rel))
	if err != nil {
		s.addFailed(rel, fmt.Errorf("listing directory: %w", err))
		return
	}
	for _, e := range entries {
		if !e.IsDir() { // symlinks are not followed
			continue
		}
		child := path.Join(rel, e.Name())
		if s.ignored(child, true) {
			continue
		}
		if err := s.watchDir(child); err != nil {
			s.addFailed(child, err)
			continue
		}
		n := len(node.children)
		c := node.child(e.Name())
		if len(node.children) != n {
			s.w.nwatched.Add(1)
		}
		s.noteInode(child, c)
		s.fill(child, c)
	}
}

// dropTree forgets the watches of rel and every directory below it; the
// kernel has usually removed them already (delete), or they now point to a
// renamed directory and must go before its new path is added.
func (s *state) dropTree(rel string) {
	if rel == "" {
		s.dropAll()
		return
	}
	parent, name := s.parentOf(rel)
	if parent == nil || parent.children[name] == nil {
		return
	}
	s.removeWatches(rel, parent.children[name])
	delete(parent.children, name)
}

func (s *state) dropAll() {
	if s.tree != nil {
		s.removeWatches("", s.tree)
		s.tree = nil
	}
}

func (s *state) removeWatches(rel string, n *dirNode) {
	for name, c := range n.children {
		s.removeWatches(path.Join(rel, name), c)
	}
	// ErrNonExistentWatch (fsnotify saw IN_IGNORED already) and EINVAL (the
	// kernel dropped the watch) both leave the bookkeeping consistent.
	_ = s.fsw.Remove(s.abs(rel))
	s.w.nwatched.Add(-1)
	if n.ino == 0 {
		return
	}
	paths := s.byIno[n.ino]
	delete(paths, rel)
	if len(paths) == 0 {
		delete(s.byIno, n.ino)
		return
	}
	// The directory was moved and is already watched under its new path
	// (its new parent was listed before this rename was handled). The
	// kernel keys watches by inode, so removing the old path removed the
	// new one too: watch it again and rescan it for what was missed.
	for other := range paths {
		if err := s.watchDir(other); err != nil {
			s.addFailed(other, err)
			continue
		}
		s.addPath(other)
	}
}

// noteInode records which inode a watched directory has, so a watch shared
// by two paths (a moved directory seen at its new path first) is noticed.
func (s *state) noteInode(rel string, n *dirNode) {
	fi, err := os.Lstat(s.abs(rel))
	if err != nil {
		return
	}
	if n.ino != 0 {
		delete(s.byIno[n.ino], rel) // the path now holds another directory
	}
	n.ino = fsutil.Inode(fi)
	if n.ino == 0 {
		return
	}
	if s.byIno == nil {
		s.byIno = map[uint64]map[string]bool{}
	}
	if s.byIno[n.ino] == nil {
		s.byIno[n.ino] = map[string]bool{}
	}
	s.byIno[n.ino][rel] = true
}

// resync drops every watch and watches the whole tree again. It is used
// whenever events may have been lost, so it is always followed by a Full
// (which the consumer scans after the new watches exist).
func (s *state) resync() {
	s.dropAll()
	err := s.checkRoot()
	if err == nil {
		err = s.watchDir("")
	}
	if err != nil {
		if !s.rootWarned {
			s.rootWarned = true
			s.w.log.Warn("Cannot watch folder root", slog.Any("error", err))
		} else {
			s.w.log.Debug("Folder root still not watchable", slog.Any("error", err))
		}
		s.rootLost()
		return
	}
	s.rootWarned = false
	s.rootOK = true
	s.retryTimer.Stop()
	s.tree = &dirNode{}
	s.byIno = nil
	s.w.nwatched.Add(1)
	s.fill("", s.tree)
}

func (s *state) checkRoot() error {
	fi, err := os.Stat(s.w.root) // the root itself may be a symlink
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %w", s.w.root, syscall.ENOTDIR)
	}
	return nil
}

// rootLost records that the root is not watched and schedules a retry.
func (s *state) rootLost() {
	s.rootOK = false
	s.retryTimer.Reset(s.w.rootRetry)
}

func (s *state) retryRoot() {
	s.resync()
	if s.rootOK {
		s.w.log.Info("Folder root is watchable again")
		s.markFull()
	}
}

// addFailed handles a directory that could not be watched or listed. A
// directory that vanished meanwhile is fine (its removal is an event); any
// other failure means changes below it go unnoticed until the next Full.
func (s *state) addFailed(rel string, err error) {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		s.w.log.Debug("Directory vanished before it was watched", slog.String("path", rel))
		return
	}
	attrs := []any{slog.String("path", rel), slog.Any("error", err)}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
		attrs = append(attrs, slog.String("hint", "raise fs.inotify.max_user_watches / max_user_instances"))
	}
	if !s.warnedAdd {
		s.warnedAdd = true
		s.w.log.Warn("Cannot watch directory, relying on full rescans", attrs...)
	} else {
		s.w.log.Debug("Cannot watch directory", attrs...)
	}
	s.markFull()
}
