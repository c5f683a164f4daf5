// Package index is the per-device file index on Pebble: this device's file
// records, what each peer announced, the global winner of every path, a
// change log by sequence and a chunk-hash → location map. See
// docs/architecture.md for the key layout.
package index

import (
	"errors"
	"log/slog"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// ErrCorrupt marks a record in the database that does not decode.
var ErrCorrupt = errors.New("index: corrupt record")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("index: closed")

// Options configures a Store. The zero value means defaults.
type Options struct {
	Local     identity.DeviceID // this device; required
	CacheSize int64             // Pebble block cache bytes; default 16 MiB
	Logger    *slog.Logger      // nil means slog.Default()
}

// Store is one Pebble database holding the index of every folder.
type Store struct{}

// Open opens or creates the index in dir.
func Open(dir string, opts Options) (*Store, error) { panic("unimplemented") }

// Close flushes and closes the database. It is idempotent.
func (s *Store) Close() error { panic("unimplemented") }

// Folder opens the index of a folder, creating it (with a fresh random
// index ID) on first use.
func (s *Store) Folder(id string) (*Folder, error) { panic("unimplemented") }

// DropFolder deletes every record of a folder.
func (s *Store) DropFolder(id string) error { panic("unimplemented") }

// LocalFile is a local record plus scan-cache data that never leaves this device.
type LocalFile struct {
	Info  *wire.FileInfo
	Inode uint64 // 0 when unknown
}

// GlobalEntry is the global state of one path.
type GlobalEntry struct {
	Winner *wire.FileInfo
	// Devices that announced a record with the winner's version, so can
	// serve its blocks. The local device is included when it has it.
	Availability []identity.DeviceID
}

// Counts summarises a folder.
type Counts struct {
	LocalFiles, LocalDirs, LocalBytes    int64 // non-deleted local records
	GlobalFiles, GlobalDirs, GlobalBytes int64 // non-deleted global winners
	NeedFiles, NeedBytes                 int64 // what Need would visit
}

// Folder is the index of one folder. It is safe for concurrent use.
type Folder struct{}

func (f *Folder) ID() string      { panic("unimplemented") }
func (f *Folder) IndexID() uint64 { panic("unimplemented") }

// Sequence returns the highest local sequence number.
func (f *Folder) Sequence() int64 { panic("unimplemented") }

// Local returns this device's record of name.
func (f *Folder) Local(name string) (LocalFile, bool, error) { panic("unimplemented") }

// WalkLocal visits local records (deleted ones too) in name order under
// prefix ("" for all; "a/b" visits "a/b" and everything below "a/b/").
func (f *Folder) WalkLocal(prefix string, fn func(LocalFile) error) error {
	panic("unimplemented")
}

// UpdateLocal records local changes in one atomic batch: it assigns each
// record the next sequence number (setting Info.Sequence), replaces the
// local record, moves its change-log entry, replaces its chunk locations
// and recomputes the global entry of its name.
func (f *Folder) UpdateLocal(files []LocalFile) error { panic("unimplemented") }

// LocalSince visits local records with sequence > after in sequence order.
// Each name appears once, with its latest record.
func (f *Folder) LocalSince(after int64, fn func(*wire.FileInfo) error) error {
	panic("unimplemented")
}

// BlockLocations visits local files that hold a block with this hash, until
// fn returns false.
func (f *Folder) BlockLocations(hash []byte, fn func(name string, offset int64, size int32) bool) error {
	panic("unimplemented")
}

// RemoteState returns the index ID and highest sequence received from dev.
func (f *Folder) RemoteState(dev identity.DeviceID) (indexID uint64, maxSeq int64, err error) {
	panic("unimplemented")
}

// UpdateRemote stores records announced by dev in one atomic batch. With
// reset, every earlier record from dev is dropped first. lastSeq becomes
// the resume point returned by RemoteState.
func (f *Folder) UpdateRemote(dev identity.DeviceID, indexID uint64, reset bool, files []*wire.FileInfo, lastSeq int64) error {
	panic("unimplemented")
}

// DropRemote forgets everything dev announced.
func (f *Folder) DropRemote(dev identity.DeviceID) error { panic("unimplemented") }

// Remote returns dev's record of name.
func (f *Folder) Remote(dev identity.DeviceID, name string) (*wire.FileInfo, bool, error) {
	panic("unimplemented")
}

// Global returns the global entry of name.
func (f *Folder) Global(name string) (GlobalEntry, bool, error) { panic("unimplemented") }

// Need visits, in name order, every path where this device lacks the
// winner: no local record while the winner is not deleted, or a local
// version other than the winner's. local is nil when there is no local
// record.
func (f *Folder) Need(fn func(g GlobalEntry, local *LocalFile) error) error {
	panic("unimplemented")
}

// Counts returns the folder summary.
func (f *Folder) Counts() (Counts, error) { panic("unimplemented") }
