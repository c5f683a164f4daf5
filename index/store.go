package index

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// ErrCorrupt marks a record in the database that does not decode.
var ErrCorrupt = errors.New("index: corrupt record")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("index: closed")

// ErrDropped is returned by a Folder whose index was deleted by DropFolder.
// Call Store.Folder again for a fresh one.
var ErrDropped = errors.New("index: folder dropped")

// schemaVersion is stored under 'M' 'v'; Open refuses any other value.
const schemaVersion = 1

// DefaultCacheSize is the Pebble block cache used when Options.CacheSize is 0.
const DefaultCacheSize = 16 << 20

// Options configures a Store. The zero value means defaults.
type Options struct {
	Local     identity.DeviceID // this device; required
	CacheSize int64             // Pebble block cache bytes; default 16 MiB
	Logger    *slog.Logger      // nil means slog.Default()
}

// Store is one Pebble database holding the index of every folder.
//
// Concurrency: every write (UpdateLocal, UpdateRemote, DropRemote, Folder
// creation, DropFolder) holds wmu, so a read-modify-write of derived keys
// sees exactly the committed state and no other writer. Readers take no
// lock: each reads from one Pebble snapshot or iterator, so it sees a
// consistent state even while a batch commits. Close waits for every method
// in flight (ops); a method started after Close returns ErrClosed. Callbacks
// run while their method is in flight, so they must not call Close.
type Store struct {
	db    *pebble.DB
	local identity.DeviceID
	log   *slog.Logger

	life struct {
		sync.Mutex
		closed bool
	}
	ops sync.WaitGroup

	wmu        sync.Mutex // serialises writers
	nextFolder uint32     // guarded by wmu
	nextDevice uint32     // guarded by wmu

	// reg holds the registries; the writer changes them after a commit.
	reg struct {
		sync.RWMutex
		devNum  map[identity.DeviceID]uint32
		devID   map[uint32]identity.DeviceID
		folders map[string]*Folder
	}
}

// Open opens or creates the index in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Local == "" {
		return nil, fmt.Errorf("opening index: %w: no local device", ErrInvalid)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	size := opts.CacheSize
	if size <= 0 {
		size = DefaultCacheSize
	}
	cache := pebble.NewCache(size)
	defer cache.Unref()
	db, err := pebble.Open(dir, &pebble.Options{
		Cache: cache,
		// Pinned: format upgrades are one-way, so a newer Pebble must not
		// ratchet the database silently. Raise deliberately.
		FormatMajorVersion: pebble.FormatValueSeparation,
		Logger:             pebbleLogger{log: log},
		MaxOpenFiles:       256,
		MemTableSize:       8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("opening index %q: %w", dir, err)
	}
	s := &Store{db: db, local: opts.Local, log: log}
	s.reg.devNum = map[identity.DeviceID]uint32{}
	s.reg.devID = map[uint32]identity.DeviceID{}
	s.reg.folders = map[string]*Folder{}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening index %q: %w", dir, err)
	}
	return s, nil
}

// load checks the schema and reads the registries into memory.
func (s *Store) load() error {
	v, ok, err := s.get(keySchema)
	switch {
	case err != nil:
		return err
	case !ok:
		b := s.db.NewBatch()
		defer b.Close()
		_ = b.Set(keySchema, binary.BigEndian.AppendUint32(nil, schemaVersion), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("writing schema version: %w", err)
		}
	case len(v) != 4:
		return corrupt("schema version", "bad length")
	case binary.BigEndian.Uint32(v) != schemaVersion:
		return fmt.Errorf("unsupported index schema %d (want %d)", binary.BigEndian.Uint32(v), schemaVersion)
	}
	for _, c := range []struct {
		key []byte
		dst *uint32
	}{{keyNextFolder, &s.nextFolder}, {keyNextDevice, &s.nextDevice}} {
		v, ok, err := s.get(c.key)
		switch {
		case err != nil:
			return err
		case !ok:
			*c.dst = 1
		case len(v) != 4 || binary.BigEndian.Uint32(v) == 0:
			return corrupt("registry counter", "bad value")
		default:
			*c.dst = binary.BigEndian.Uint32(v)
		}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pDevice}, UpperBound: []byte{pDevice + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if len(k) != 5 {
			return corrupt("device registry", "bad key")
		}
		num := binary.BigEndian.Uint32(k[1:])
		dev := identity.DeviceID(v)
		if num == localDev || num >= s.nextDevice || dev == "" {
			return corrupt("device registry", num)
		}
		s.reg.devNum[dev], s.reg.devID[num] = num, dev
	}
	return it.Error()
}

// get returns a copy of the value of key.
func (s *Store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = append([]byte(nil), v...)
	return v, true, closer.Close()
}

// acquire registers a method in flight; release ends it.
func (s *Store) acquire() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.life.closed {
		return ErrClosed
	}
	s.ops.Add(1)
	return nil
}

func (s *Store) release() { s.ops.Done() }

// Close flushes and closes the database. It is idempotent.
func (s *Store) Close() error {
	s.life.Lock()
	if s.life.closed {
		s.life.Unlock()
		return nil
	}
	s.life.closed = true
	s.life.Unlock()
	s.ops.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing index: %w", err)
	}
	return nil
}

// Local returns this device's ID.
func (s *Store) Local() identity.DeviceID { return s.local }

// Folder opens the index of a folder, creating it (with a fresh random
// index ID) on first use.
func (s *Store) Folder(id string) (*Folder, error) {
	if id == "" || len(id) > maxFolderIDLen {
		return nil, fmt.Errorf("opening folder index: %w: folder ID of %d bytes", ErrInvalid, len(id))
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	s.reg.RLock()
	f := s.reg.folders[id]
	s.reg.RUnlock()
	if f != nil {
		return f, nil
	}

	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.reg.RLock()
	f = s.reg.folders[id]
	s.reg.RUnlock()
	if f != nil {
		return f, nil
	}
	f, err := s.openFolder(id)
	if err != nil {
		return nil, fmt.Errorf("opening folder index %q: %w", id, err)
	}
	s.reg.Lock()
	s.reg.folders[id] = f
	s.reg.Unlock()
	return f, nil
}

// openFolder loads or creates a folder. The caller holds wmu.
func (s *Store) openFolder(id string) (*Folder, error) {
	v, ok, err := s.get(keyFolderName(id))
	if err != nil {
		return nil, err
	}
	if ok {
		if len(v) != 4 {
			return nil, corrupt("folder registry", "bad value")
		}
		num := binary.BigEndian.Uint32(v)
		mv, ok, err := s.get(keyFolderMeta(num))
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, corrupt("folder meta", "missing")
		}
		m, err := decodeMeta(mv)
		if err != nil {
			return nil, err
		}
		return newFolder(s, id, num, m), nil
	}

	num := s.nextFolder
	if num == 0 {
		return nil, errors.New("folder numbers exhausted")
	}
	m := folderMeta{indexID: newIndexID()}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.Set(keyFolderName(id), binary.BigEndian.AppendUint32(nil, num), nil)
	_ = b.Set(keyNextFolder, binary.BigEndian.AppendUint32(nil, num+1), nil)
	_ = b.Set(keyFolderMeta(num), encodeMeta(&m), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("creating folder: %w", err)
	}
	s.nextFolder++
	s.log.Debug("Folder index created", slog.String("folder", id), slog.Uint64("indexID", m.indexID))
	return newFolder(s, id, num, m), nil
}

// newIndexID returns a random non-zero index ID.
func newIndexID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:]) // never fails since Go 1.24
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// DropFolder deletes every record of a folder.
func (s *Store) DropFolder(id string) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	v, ok, err := s.get(keyFolderName(id))
	if err != nil || !ok {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("dropping folder %q: %w", id, corrupt("folder registry", "bad value"))
	}
	num := binary.BigEndian.Uint32(v)
	b := s.db.NewBatch()
	defer b.Close()
	for _, p := range folderPrefixes {
		start := folderKey(p, num, 0)
		_ = b.DeleteRange(start, prefixEnd(start), nil)
	}
	_ = b.Delete(keyFolderName(id), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("dropping folder %q: %w", id, err)
	}
	s.reg.Lock()
	if f := s.reg.folders[id]; f != nil {
		f.dropped.Store(true)
		delete(s.reg.folders, id)
	}
	s.reg.Unlock()
	s.log.Debug("Folder index dropped", slog.String("folder", id))
	return nil
}

// Folders returns the IDs of every folder in the index, in byte order.
func (s *Store) Folders() ([]string, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pFolderName}, UpperBound: []byte{pFolderName + 1}})
	if err != nil {
		return nil, fmt.Errorf("listing folders: %w", err)
	}
	defer it.Close()
	var ids []string
	for it.First(); it.Valid(); it.Next() {
		ids = append(ids, string(it.Key()[1:]))
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("listing folders: %w", err)
	}
	return ids, nil
}

// deviceID maps a device number from a 'G' entry back to its ID.
func (s *Store) deviceID(num uint32) (identity.DeviceID, bool) {
	if num == localDev {
		return s.local, true
	}
	s.reg.RLock()
	defer s.reg.RUnlock()
	d, ok := s.reg.devID[num]
	return d, ok
}

// deviceNum maps a remote device ID to its number.
func (s *Store) deviceNum(dev identity.DeviceID) (uint32, bool) {
	s.reg.RLock()
	defer s.reg.RUnlock()
	n, ok := s.reg.devNum[dev]
	return n, ok
}

// LocalFile is a local record plus scan-cache data that never leaves this device.
type LocalFile struct {
	Info  *wire.FileInfo
	Inode uint64 // 0 when unknown
}

// GlobalEntry is the global state of one path.
type GlobalEntry struct {
	Winner *wire.FileInfo
	// Devices that announced a record with the winner's version, so can
	// serve its blocks. The local device is included when it has it. The
	// device whose record is Winner comes first.
	Availability []identity.DeviceID
}

// Counts summarises a folder. Directories count as Dirs, files and symlinks
// as Files; Bytes sums the Size of files and symlinks. The counters are kept
// in the folder's meta key by every batch, so Counts costs nothing.
type Counts struct {
	LocalFiles, LocalDirs, LocalBytes    int64 // non-deleted local records
	GlobalFiles, GlobalDirs, GlobalBytes int64 // non-deleted global winners
	// NeedFiles counts every path Need visits (deletions and directories
	// included); NeedBytes sums the Size of the non-deleted files and
	// symlinks among them.
	NeedFiles, NeedBytes int64
}
