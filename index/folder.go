package index

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// Folder is the index of one folder. It is safe for concurrent use.
//
// Callbacks (WalkLocal, LocalSince, BlockLocations, Need) see one
// consistent state and may call any method except Store.Close, including
// updates; they hold a Pebble snapshot or iterator open, so keep them short
// (collect, then act).
type Folder struct {
	s       *Store
	id      string
	num     uint32
	indexID uint64
	dropped atomic.Bool

	// mu guards the copy of the folder meta; the writer replaces it after
	// each commit.
	mu     sync.Mutex
	seq    int64
	counts Counts
}

func newFolder(s *Store, id string, num uint32, m folderMeta) *Folder {
	return &Folder{s: s, id: id, num: num, indexID: m.indexID, seq: m.seq, counts: m.counts}
}

func (f *Folder) ID() string      { return f.id }
func (f *Folder) IndexID() uint64 { return f.indexID }

// Sequence returns the highest local sequence number.
func (f *Folder) Sequence() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seq
}

// Counts returns the folder summary. It is maintained by every update, so
// this is a memory read.
func (f *Folder) Counts() (Counts, error) {
	if err := f.begin(); err != nil {
		return Counts{}, err
	}
	defer f.s.release()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.counts, nil
}

// begin registers a method in flight; the caller must call f.s.release.
func (f *Folder) begin() error {
	if err := f.s.acquire(); err != nil {
		return err
	}
	if f.dropped.Load() {
		f.s.release()
		return ErrDropped
	}
	return nil
}

// Local returns this device's record of name.
func (f *Folder) Local(name string) (LocalFile, bool, error) {
	if err := f.begin(); err != nil {
		return LocalFile{}, false, err
	}
	defer f.s.release()
	v, ok, err := f.s.get(keyLocal(f.num, name))
	if err != nil || !ok {
		return LocalFile{}, false, err
	}
	lf, err := decodeLocal(name, v)
	return lf, err == nil, err
}

// WalkLocal visits local records (deleted ones too) in name order under
// prefix ("" for all; "a/b" visits "a/b" and everything below "a/b/").
func (f *Folder) WalkLocal(prefix string, fn func(LocalFile) error) error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.s.release()
	prefix = strings.TrimSuffix(prefix, "/")
	lower := keyLocal(f.num, prefix)
	sub := lower
	if prefix != "" {
		sub = keyLocal(f.num, prefix+"/")
	}
	it, err := f.s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(sub)})
	if err != nil {
		return fmt.Errorf("walking local records: %w", err)
	}
	defer it.Close()
	visit := func() error {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		lf, err := decodeLocal(string(it.Key()[5:]), v)
		if err != nil {
			return err
		}
		return fn(lf)
	}
	if prefix != "" {
		// "a/b" itself, then skip siblings such as "a/b.txt" that sort
		// between "a/b" and "a/b/".
		if it.First() && bytes.Equal(it.Key(), lower) {
			if err := visit(); err != nil {
				return err
			}
		}
		it.SeekGE(sub)
	} else {
		it.First()
	}
	for ; it.Valid(); it.Next() {
		if err := visit(); err != nil {
			return err
		}
	}
	return it.Error()
}

// LocalSince visits local records with sequence > after in sequence order.
// Each name appears once, with its latest record.
func (f *Folder) LocalSince(after int64, fn func(*wire.FileInfo) error) error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.s.release()
	v := f.s.newView(f, true)
	defer v.close()
	after = max(after, 0)
	lower := keySeq(f.num, after+1)
	it, err := v.src.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(folderKey(pSeq, f.num, 0))})
	if err != nil {
		return fmt.Errorf("reading change log: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		name := string(val)
		seq := int64(bytes2u64(it.Key()[5:]))
		lf, ok, err := v.local(name)
		if err != nil {
			return err
		}
		if !ok || lf.Info.Sequence != seq {
			return corrupt(fmt.Sprintf("change log entry %d", seq), fmt.Sprintf("no local record %q with that sequence", name))
		}
		if err := fn(lf.Info); err != nil {
			return err
		}
	}
	return it.Error()
}

// BlockLocations visits local files that hold a block with this hash, until
// fn returns false. Each file is visited once, with the first offset at
// which it holds the block.
func (f *Folder) BlockLocations(hash []byte, fn func(name string, offset int64, size int32) bool) error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.s.release()
	if len(hash) == 0 || len(hash) > MaxHashLen {
		return nil
	}
	p := keyBlockPrefix(f.num, hash)
	it, err := f.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return fmt.Errorf("looking up block: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		val, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		off, size, err := decodeBlock(val)
		if err != nil {
			return err
		}
		if !fn(string(it.Key()[len(p):]), off, size) {
			return nil
		}
	}
	return it.Error()
}

// RemoteState returns the index ID and highest sequence received from dev.
// Both are zero for a device never heard from. For the local device it
// returns this folder's own index ID and sequence.
func (f *Folder) RemoteState(dev identity.DeviceID) (indexID uint64, maxSeq int64, err error) {
	if err := f.begin(); err != nil {
		return 0, 0, err
	}
	defer f.s.release()
	if dev == f.s.local {
		return f.indexID, f.Sequence(), nil
	}
	num, ok := f.s.deviceNum(dev)
	if !ok {
		return 0, 0, nil
	}
	v, ok, err := f.s.get(keyPeer(f.num, num))
	if err != nil || !ok {
		return 0, 0, err
	}
	return decodePeer(v)
}

// Remote returns dev's record of name; for the local device, the local
// record.
func (f *Folder) Remote(dev identity.DeviceID, name string) (*wire.FileInfo, bool, error) {
	if dev == f.s.local {
		lf, ok, err := f.Local(name)
		return lf.Info, ok, err
	}
	if err := f.begin(); err != nil {
		return nil, false, err
	}
	defer f.s.release()
	num, ok := f.s.deviceNum(dev)
	if !ok {
		return nil, false, nil
	}
	v, ok, err := f.s.get(keyRemote(f.num, num, name))
	if err != nil || !ok {
		return nil, false, err
	}
	fi, err := decodeRemote(name, v)
	return fi, err == nil, err
}

// Global returns the global entry of name.
func (f *Folder) Global(name string) (GlobalEntry, bool, error) {
	if err := f.begin(); err != nil {
		return GlobalEntry{}, false, err
	}
	defer f.s.release()
	v := f.s.newView(f, true)
	defer v.close()
	g, ok, err := v.global(name)
	if err != nil || !ok {
		return GlobalEntry{}, false, err
	}
	ge, err := v.entry(name, g)
	return ge, err == nil, err
}

// Need visits, in name order, every path where this device lacks the
// winner: no local record while the winner is not deleted, or a local
// version other than the winner's. local is nil when there is no local
// record. It reads only the 'Q' keys of needed names, not every record.
func (f *Folder) Need(fn func(g GlobalEntry, local *LocalFile) error) error {
	if err := f.begin(); err != nil {
		return err
	}
	defer f.s.release()
	v := f.s.newView(f, true)
	defer v.close()
	p := folderKey(pNeed, f.num, 0)
	it, err := v.src.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return fmt.Errorf("reading need list: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		name := string(it.Key()[len(p):])
		g, ok, err := v.global(name)
		if err != nil {
			return err
		}
		if !ok {
			return corrupt(fmt.Sprintf("need entry %q", name), "no global entry")
		}
		ge, err := v.entry(name, g)
		if err != nil {
			return err
		}
		var local *LocalFile
		lf, ok, err := v.local(name)
		if err != nil {
			return err
		}
		if ok {
			local = &lf
		}
		if err := fn(ge, local); err != nil {
			return err
		}
	}
	return it.Error()
}
