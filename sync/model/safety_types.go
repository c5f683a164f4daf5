package model

import (
	"time"

	"github.com/shoalsync/shoal/sync/config"
)

// Conflict is a conflict copy in a folder: the losing side of a concurrent
// change, kept next to the file under a sync-conflict name.
type Conflict struct {
	Folder   string    `json:"folder"`
	Path     string    `json:"path"`     // the conflict copy
	Original string    `json:"original"` // the file it is a copy of
	Device   string    `json:"device"`   // short ID of the device whose version lost
	Time     time.Time `json:"time"`     // modification time of the losing version
	Size     int64     `json:"size"`
}

// Version is an archived version of a file in a folder's version archive.
type Version struct {
	Path       string    `json:"path"`       // the file's path in the folder
	ArchivedAt time.Time `json:"archivedAt"` // when sync replaced or deleted it
	ModTime    time.Time `json:"modTime"`    // its modification time
	Size       int64     `json:"size"`
}

// Difference is a path where a send-only or receive-only folder differs
// from the shared state.
type Difference struct {
	Path string `json:"path"`
	// Kind is "remote-change" (send-only: another device changed it and
	// the change is not applied here) or "local-change" (receive-only: it
	// was changed here and the change is not sent).
	Kind string `json:"kind"`
	// Local and Global describe both sides: "file", "directory",
	// "symlink", "deleted" or "absent".
	Local  string `json:"local"`
	Global string `json:"global"`
}

// Difference kinds.
const (
	DiffRemoteChange = "remote-change"
	DiffLocalChange  = "local-change"
)

// UpdateFolderRequest changes a folder's settings; nil fields are kept.
type UpdateFolderRequest struct {
	Label        *string            `json:"label,omitempty"`
	Mode         *string            `json:"mode,omitempty"`
	Versioning   *config.Versioning `json:"versioning,omitempty"`
	MaxConflicts *int               `json:"maxConflicts,omitempty"`
}

// RestoreRequest is the input of RestoreVersion. A zero At means the newest
// version; otherwise the newest version archived at or before At.
type RestoreRequest struct {
	Path string    `json:"path"`
	At   time.Time `json:"at,omitzero"`
}

// File error kinds.
const (
	// FileErrorFailed is an ordinary failure, retried.
	FileErrorFailed = "failed"
	// FileErrorUnsupportedName is a name this device cannot hold (for
	// example a Windows reserved name on a Windows device).
	FileErrorUnsupportedName = "unsupported-name"
	// FileErrorCaseCollision is a name that differs only in case (or
	// Unicode normalization) from another one on a file system that
	// cannot tell them apart.
	FileErrorCaseCollision = "case-collision"
	// FileErrorIgnored would overwrite or delete a file the ignore rules
	// protect.
	FileErrorIgnored = "ignored"
)
