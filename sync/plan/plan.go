// Package plan decides what the puller does with each path that differs
// from the global state. The decision is a pure function of this device's
// record, the winning record and a few facts about the disk, with no I/O,
// so it can be tested by the thousand (see plan_test.go) and every device
// applying it reaches the same state.
//
// "The last version both agreed on" is carried by the version vectors: when
// the local version is an ancestor of the winner (Compare gives Lesser),
// the local content is the common base and the winner is a later edit of
// it, so replacing it loses nothing the other side has not seen. When the
// two are concurrent, both sides changed the base independently and the
// local change must survive: as a conflict copy, or by winning outright
// (a modification beats a deletion).
package plan

import (
	"bytes"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/transport/wire"
)

// Mode is the folder's mode.
type Mode int

// Folder modes.
const (
	SendReceive Mode = iota
	SendOnly         // remote changes are not applied
	ReceiveOnly      // local changes are not sent (the planner treats it as SendReceive)
)

// Disk is what is on disk at the path, relative to the local record.
type Disk int

const (
	// AsRecorded: the disk holds what the local record says (nothing, when
	// there is no live record; an existing directory, when the winner is
	// also a directory).
	AsRecorded Disk = iota
	// Changed: something the scanner has not recorded yet is there. It
	// may be a user's only copy: rescan before touching it.
	Changed
	// Missing: the local record is live but nothing is on disk: a local
	// deletion the scanner has not recorded yet. Its content was the base,
	// so the winner may be written.
	Missing
)

// Holds describes what is still inside a local directory the winner
// deletes or replaces by a non-directory.
type Holds struct {
	Live      bool // entries whose global record is live (someone still has them)
	Unscanned bool // entries with no local record: new local files
	Ignored   bool // entries the ignore rules protect
	Pending   bool // entries whose global record is deleted but are still here
}

// Input is everything the decision depends on.
type Input struct {
	Local   *wire.FileInfo // this device's record; nil when it has none
	Global  *wire.FileInfo // the winning record
	Disk    Disk
	Mode    Mode
	Ignored bool // the ignore rules protect this path on this device
	// NameProblem says why this device cannot hold the name ("" if it can).
	NameProblem string
	Holds       Holds
	// Archive is true when the folder keeps replaced and deleted files.
	Archive bool
}

// Action is what to do with a path.
type Action int

const (
	None     Action = iota // in sync: nothing to do
	Wait                   // rescan first: the disk has an unrecorded local change
	Defer                  // not yet: retry after the rest of the pass (deletions inside a directory)
	Skip                   // not applied on this device; Reason says why
	Adopt                  // record the winner's version; the disk already holds its content
	SetMeta                // same content: set mode and modification time, then record
	Create                 // write the winner where nothing is to be kept
	Replace                // write the winner over the local version (an ancestor of it)
	Conflict               // move the local version to a conflict copy, then write the winner
	Delete                 // remove the local version
	Forget                 // record the deletion but keep the directory: it holds only ignored files
	Keep                   // keep the local version and announce it as newer than the winner
)

var actionNames = [...]string{"none", "wait", "defer", "skip", "adopt", "set-meta", "create", "replace", "conflict", "delete", "forget", "keep"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Skip reasons.
const (
	ReasonIgnored     = "ignored"
	ReasonSendOnly    = "send-only"
	ReasonUnsupported = "unsupported-name"
	// ReasonHoldsIgnored: the local directory holds files the ignore
	// rules protect, so it cannot give way to the winner.
	ReasonHoldsIgnored = "holds-ignored"
)

// Decision is the planner's answer for one path.
type Decision struct {
	Action Action
	// Archive: the local version being replaced or deleted goes to the
	// version archive (set only for files and symlinks with an archive).
	Archive bool
	// Reason explains Skip (one of the Reason constants) and Wait/Defer.
	Reason string
}

// Decide returns what to do with one path.
func Decide(in Input) Decision {
	g, l := in.Global, in.Local
	if g == nil {
		return Decision{Action: None}
	}
	concurrent := false
	if l != nil {
		switch index.Compare(l.Version, g.Version) {
		case index.Equal, index.Greater:
			return Decision{Action: None}
		case index.Concurrent:
			concurrent = true
		}
	}
	if in.NameProblem != "" {
		return Decision{Action: Skip, Reason: ReasonUnsupported}
	}
	if in.Ignored {
		return Decision{Action: Skip, Reason: ReasonIgnored}
	}
	if in.Disk == Changed {
		return Decision{Action: Wait, Reason: "local change not scanned yet"}
	}
	localLive := l != nil && !l.Deleted && in.Disk != Missing
	if in.Mode == SendOnly {
		if sameState(l, g, localLive) {
			return Decision{Action: Adopt}
		}
		return Decision{Action: Skip, Reason: ReasonSendOnly}
	}
	if !localLive {
		if g.Deleted {
			return Decision{Action: Adopt}
		}
		return Decision{Action: Create}
	}
	isDir := l.Type == wire.FileType_FILE_TYPE_DIRECTORY
	keepFile := in.Archive && !isDir

	if g.Deleted {
		if concurrent {
			// A modification beats a deletion. Wins already ranks the
			// live record first, so this is only reached when a third
			// record dominated ours; keep it all the same.
			return Decision{Action: Keep}
		}
		if isDir {
			return dirGoes(in.Holds, Decision{Action: Delete}, Decision{Action: Forget})
		}
		return Decision{Action: Delete, Archive: keepFile}
	}
	if sameData(l, g) {
		if l.Permissions == g.Permissions && (isDir || (l.ModifiedS == g.ModifiedS && l.ModifiedNs == g.ModifiedNs)) {
			return Decision{Action: Adopt}
		}
		return Decision{Action: SetMeta}
	}
	if isDir {
		// The winner puts a file or symlink where this directory is.
		if in.Holds.Ignored {
			// Moving the directory aside would carry ignored files along
			// (and sync them); deleting it would lose them: leave it.
			return Decision{Action: Skip, Reason: ReasonHoldsIgnored}
		}
		if concurrent && (in.Holds.Live || in.Holds.Pending) {
			return Decision{Action: Conflict} // the whole directory is moved aside
		}
		d := dirGoes(in.Holds, Decision{Action: Replace}, Decision{Action: Conflict})
		if d.Action == Keep {
			// Files inside are live elsewhere, but keeping the directory
			// as newer would replace the winner's file on its device
			// without a copy: move the directory aside instead.
			d = Decision{Action: Conflict}
		}
		return d
	}
	if concurrent {
		return Decision{Action: Conflict}
	}
	return Decision{Action: Replace, Archive: keepFile}
}

// dirGoes decides for a directory the winner removes: gone is the action
// when it is empty, ignoredOnly when it holds only ignored files.
func dirGoes(h Holds, gone, ignoredOnly Decision) Decision {
	switch {
	case h.Unscanned:
		return Decision{Action: Wait, Reason: "directory holds files not scanned yet"}
	case h.Pending:
		return Decision{Action: Defer, Reason: "directory still holds files being deleted"}
	case h.Live:
		// Someone still has files inside (for example a new file created
		// while another device deleted the directory): the directory stays.
		return Decision{Action: Keep}
	case h.Ignored:
		return ignoredOnly
	}
	return gone
}

// sameData reports whether two live records have the same type and content.
func sameData(a, b *wire.FileInfo) bool {
	return a.Type == b.Type && a.Size == b.Size && bytes.Equal(a.BlocksHash, b.BlocksHash) && a.SymlinkTarget == b.SymlinkTarget
}

// sameState reports whether the local state already equals the winner
// (both absent, or the same content and metadata).
func sameState(l, g *wire.FileInfo, localLive bool) bool {
	if !localLive {
		return g.Deleted
	}
	return !g.Deleted && sameData(l, g) && l.Permissions == g.Permissions &&
		(l.Type == wire.FileType_FILE_TYPE_DIRECTORY || (l.ModifiedS == g.ModifiedS && l.ModifiedNs == g.ModifiedNs))
}
