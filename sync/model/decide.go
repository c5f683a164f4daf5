package model

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/sync/plan"
	"github.com/shoalsync/shoal/transport/wire"
)

// errDefer means a path cannot be done yet in this pass (a directory that
// still holds files being deleted); it is retried in the next pass.
var errDefer = errors.New("deferred to the next pass")

// skipError is a path this device deliberately does not apply.
type skipError struct {
	kind   string // a FileError kind; "" for an expected skip that is no error (send-only)
	reason string
}

func (e *skipError) Error() string { return e.reason }

// decide looks at the disk and asks the planner what to do with n. The
// returned FileInfo is what is at abs now (nil: nothing).
func (f *folder) decide(n need, abs string) (plan.Decision, fs.FileInfo, error) {
	w := n.g.Winner
	fi, err := os.Lstat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		fi, err = nil, nil
	}
	if err != nil {
		return plan.Decision{}, nil, fmt.Errorf("checking %s: %w", w.Name, err)
	}
	in := plan.Input{Global: w, Mode: f.planMode(), Archive: f.archiving()}
	if n.local != nil {
		in.Local = n.local.Info
	}
	in.Disk = diskState(n.local, w, fi, abs)
	if f.encryptedOnly() {
		return encryptedDecision(in, fi), fi, nil
	}
	isDir := w.Type == wire.FileType_FILE_TYPE_DIRECTORY
	if in.Local != nil && !in.Local.Deleted {
		isDir = isDir || in.Local.Type == wire.FileType_FILE_TYPE_DIRECTORY
	}
	in.Ignored = f.ignoredBy()(w.Name, isDir)
	in.NameProblem = f.nameProblem(w, n.local)
	if fi != nil && fi.IsDir() && in.Local != nil && !in.Local.Deleted && in.Local.Type == wire.FileType_FILE_TYPE_DIRECTORY &&
		(w.Deleted || w.Type != wire.FileType_FILE_TYPE_DIRECTORY) {
		h, err := f.holds(w.Name, abs)
		if err != nil {
			return plan.Decision{}, nil, err
		}
		in.Holds = h
	}
	if fi != nil && fi.IsDir() && in.Disk == plan.Changed && (in.Local == nil || in.Local.Deleted) {
		// A directory with no live record where the winner has a file: if
		// it holds only what the scanner never records (a directory kept
		// for ignored files), waiting for a scan would wait forever.
		h, err := f.holds(w.Name, abs)
		if err != nil {
			return plan.Decision{}, nil, err
		}
		if !h.Unscanned && !h.Live && !h.Pending {
			if w.Deleted {
				return plan.Decision{Action: plan.Forget}, fi, nil
			}
			return plan.Decision{Action: plan.Skip, Reason: plan.ReasonHoldsIgnored}, fi, nil
		}
	}
	return plan.Decide(in), fi, nil
}

// encryptedDecision decides for an encrypted peer, whose records are all
// twins (files) copied from others: it never has changes of its own, so it
// takes the winner without conflict copies, whatever is on disk.
func encryptedDecision(in plan.Input, fi fs.FileInfo) plan.Decision {
	g, l := in.Global, in.Local
	switch {
	case g.Deleted && fi == nil:
		return plan.Decision{Action: plan.Adopt}
	case g.Deleted:
		return plan.Decision{Action: plan.Delete, Archive: in.Archive}
	case fi == nil:
		return plan.Decision{Action: plan.Create}
	case l != nil && !l.Deleted && in.Disk == plan.AsRecorded && l.Size == g.Size && bytes.Equal(l.BlocksHash, g.BlocksHash):
		return plan.Decision{Action: plan.Adopt}
	}
	return plan.Decision{Action: plan.Replace, Archive: in.Archive}
}

// neverScanned reports whether the scanner skips an entry for good: special
// files, and names that cannot be synced.
func neverScanned(rel string, e fs.DirEntry) bool {
	t := e.Type()
	if !t.IsRegular() && !t.IsDir() && t&fs.ModeSymlink == 0 {
		return true
	}
	return wire.ValidName(rel) != nil || !fsutil.IsNFC(rel)
}

// diskState classifies what is on disk against the local record.
func diskState(local *index.LocalFile, w *wire.FileInfo, fi fs.FileInfo, abs string) plan.Disk {
	if local == nil || local.Info.Deleted {
		switch {
		case fi == nil:
			return plan.AsRecorded
		case fi.IsDir() && !w.Deleted && w.Type == wire.FileType_FILE_TYPE_DIRECTORY:
			return plan.AsRecorded // an existing directory is what the winner wants
		}
		return plan.Changed
	}
	if fi == nil {
		return plan.Missing
	}
	if !matchesRecord(local, fi, abs) {
		return plan.Changed
	}
	return plan.AsRecorded
}

// holds looks inside a local directory the winner removes.
func (f *folder) holds(rel, abs string) (plan.Holds, error) {
	var h plan.Holds
	ents, err := os.ReadDir(abs)
	if err != nil {
		return h, fmt.Errorf("reading directory %s: %w", rel, err)
	}
	ignored := f.ignoredBy()
	for _, e := range ents {
		name := e.Name()
		child := rel + "/" + name
		if strings.HasPrefix(name, fsutil.TempPrefix) {
			continue // our own leftovers are removed with the directory
		}
		if fsutil.Internal(child) || ignored(child, e.IsDir()) || neverScanned(child, e) {
			// Nothing the scanner will ever record: protected like an
			// ignored file, or the directory would wait for it forever.
			h.Ignored = true
			continue
		}
		lf, ok, err := f.idx.Local(child)
		if err != nil {
			return h, err
		}
		if !ok || lf.Info.Deleted {
			if e.IsDir() && ok && lf.Info.LocalFlags&flagForgotten != 0 {
				h.Ignored = true // kept only for ignored files inside
				continue
			}
			h.Unscanned = true
			continue
		}
		g, ok, err := f.idx.Global(child)
		if err != nil {
			return h, err
		}
		if ok && !g.Winner.Deleted {
			h.Live = true
		} else {
			h.Pending = true
		}
	}
	return h, nil
}

func (f *folder) planMode() plan.Mode {
	switch f.mode() {
	case modeSendOnly:
		return plan.SendOnly
	case modeReceiveOnly:
		return plan.ReceiveOnly
	}
	return plan.SendReceive
}

// keepRecord is the local record after a Keep decision: the local version,
// announced as newer than the winner.
func (f *folder) keepRecord(n need) index.LocalFile {
	l := *n.local
	info := cloneInfo(l.Info)
	info.Version = index.Bump(index.Merge(l.Info.Version, n.g.Winner.Version), f.m.localID)
	info.LocalFlags = f.localFlags()
	l.Info = info
	return l
}

func cloneInfo(w *wire.FileInfo) *wire.FileInfo {
	return &wire.FileInfo{
		Name: w.Name, Type: w.Type, Size: w.Size, Permissions: w.Permissions,
		ModifiedS: w.ModifiedS, ModifiedNs: w.ModifiedNs, ModifiedBy: w.ModifiedBy,
		Version: index.Clone(w.Version), Deleted: w.Deleted, Blocks: w.Blocks,
		SymlinkTarget: w.SymlinkTarget, BlockSize: w.BlockSize, BlocksHash: w.BlocksHash,
		LocalFlags: w.LocalFlags, Signature: w.Signature, Sealed: w.Sealed, Meta: w.Meta,
	}
}

// skipFor turns a Skip decision into the error the pass reports.
func skipFor(d plan.Decision, name, problem string) error {
	switch d.Reason {
	case plan.ReasonIgnored:
		// Expected, not an error: the rules say to leave it alone.
		return &skipError{reason: fmt.Sprintf("%s is ignored on this device: another device's change is not applied", name)}
	case plan.ReasonHoldsIgnored:
		return &skipError{kind: FileErrorIgnored, reason: fmt.Sprintf("kept: the directory %s holds ignored files, so another device's file there is not applied", name)}
	case plan.ReasonUnsupported:
		kind := FileErrorUnsupportedName
		if strings.HasPrefix(problem, casePrefix) {
			kind = FileErrorCaseCollision
		}
		return &skipError{kind: kind, reason: problem}
	}
	return &skipError{reason: d.Reason}
}

func parentOf(name string) string {
	d := path.Dir(name)
	if d == "." {
		return ""
	}
	return d
}
