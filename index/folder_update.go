package index

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// txn is one write: a batch, the live view it reads from and the folder
// meta it will store. The caller holds wmu for its whole life.
type txn struct {
	f    *Folder
	v    *view
	b    *pebble.Batch
	meta folderMeta
}

// beginWrite starts a write. On success the caller must call end.
func (f *Folder) beginWrite() (*txn, error) {
	if err := f.begin(); err != nil {
		return nil, err
	}
	f.s.wmu.Lock()
	if f.dropped.Load() {
		f.s.wmu.Unlock()
		f.s.release()
		return nil, ErrDropped
	}
	f.mu.Lock()
	m := folderMeta{indexID: f.indexID, seq: f.seq, counts: f.counts}
	f.mu.Unlock()
	return &txn{f: f, v: f.s.newView(f, false), b: f.s.db.NewBatch(), meta: m}, nil
}

func (t *txn) end() {
	t.v.close()
	_ = t.b.Close()
	t.f.s.wmu.Unlock()
	t.f.s.release()
}

// commit writes the folder meta into the batch, commits it and publishes
// the new meta.
func (t *txn) commit(opts *pebble.WriteOptions) error {
	_ = t.b.Set(keyFolderMeta(t.f.num), encodeMeta(&t.meta), nil)
	if err := t.b.Commit(opts); err != nil {
		return err
	}
	t.f.mu.Lock()
	t.f.seq, t.f.counts = t.meta.seq, t.meta.counts
	t.f.mu.Unlock()
	return nil
}

// UpdateLocal records local changes in one atomic batch: it assigns each
// record the next sequence number (setting Info.Sequence), replaces the
// local record, moves its change-log entry, replaces its chunk locations
// and recomputes the global entry of its name. If a name occurs more than
// once, every occurrence gets a sequence number and the last one is stored.
// The batch is synced, so a sequence number is never reused after a crash.
// On error nothing is stored and Info.Sequence is restored.
func (f *Folder) UpdateLocal(files []LocalFile) error {
	for _, lf := range files {
		if err := validateInfo(lf.Info); err != nil {
			return fmt.Errorf("updating local records: %w", err)
		}
	}
	if len(files) == 0 {
		return nil
	}
	t, err := f.beginWrite()
	if err != nil {
		return err
	}
	defer t.end()

	oldSeqs := make([]int64, len(files))
	last := make(map[string]int, len(files))
	for i, lf := range files {
		oldSeqs[i] = lf.Info.Sequence
		t.meta.seq++
		lf.Info.Sequence = t.meta.seq
		last[lf.Info.Name] = i
	}
	err = func() error {
		for _, name := range sortedKeys(last) {
			if err := t.putLocal(files[last[name]]); err != nil {
				return err
			}
		}
		return t.commit(pebble.Sync)
	}()
	if err != nil {
		for i, lf := range files {
			lf.Info.Sequence = oldSeqs[i]
		}
		return fmt.Errorf("updating local records of folder %q: %w", f.id, err)
	}
	return nil
}

func (t *txn) putLocal(lf LocalFile) error {
	fi, num := lf.Info, t.f.num
	old, had, err := t.v.local(fi.Name)
	if err != nil {
		return err
	}
	if had {
		_ = t.b.Delete(keySeq(num, old.Info.Sequence), nil)
		for _, h := range fileBlocks(old.Info) {
			_ = t.b.Delete(keyBlock(num, h.Hash, fi.Name), nil)
		}
		t.meta.counts.addLocal(old.Info, -1)
	}
	val, err := encodeLocal(lf)
	if err != nil {
		return fmt.Errorf("encoding %q: %w", fi.Name, err)
	}
	_ = t.b.Set(keyLocal(num, fi.Name), val, nil)
	_ = t.b.Set(keySeq(num, fi.Sequence), []byte(fi.Name), nil)
	for _, bl := range fileBlocks(fi) {
		_ = t.b.Set(keyBlock(num, bl.Hash, fi.Name), encodeBlock(bl.Offset, bl.Size), nil)
	}
	t.meta.counts.addLocal(fi, 1)
	return t.recompute(fi.Name, localDev, fi)
}

// fileBlocks returns the blocks the chunk map holds for a local record:
// those of a non-deleted file, the first occurrence of each hash.
func fileBlocks(fi *wire.FileInfo) []*wire.BlockInfo {
	if fi.Deleted || fi.Type != wire.FileType_FILE_TYPE_FILE || len(fi.Blocks) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(fi.Blocks))
	out := make([]*wire.BlockInfo, 0, len(fi.Blocks))
	for _, b := range fi.Blocks {
		if !seen[string(b.Hash)] {
			seen[string(b.Hash)] = true
			out = append(out, b)
		}
	}
	return out
}

// UpdateRemote stores records announced by dev in one atomic batch. With
// reset, every earlier record from dev is dropped first. lastSeq becomes
// the resume point returned by RemoteState. Without reset, indexID must
// match the one stored for dev (if any), since the sequence numbers of a
// different index mean nothing. The batch is not synced: a crash may lose
// it, together with its resume point, so the peer resends it.
func (f *Folder) UpdateRemote(dev identity.DeviceID, indexID uint64, reset bool, files []*wire.FileInfo, lastSeq int64) error {
	if dev == "" || dev == f.s.local {
		return fmt.Errorf("updating remote records: %w: device %v", ErrInvalid, dev)
	}
	if lastSeq < 0 {
		return fmt.Errorf("updating remote records: %w: last sequence %d", ErrInvalid, lastSeq)
	}
	last := make(map[string]*wire.FileInfo, len(files))
	for _, fi := range files {
		if err := validateInfo(fi); err != nil {
			return fmt.Errorf("updating remote records from %v: %w", dev, err)
		}
		last[fi.Name] = fi
	}
	t, err := f.beginWrite()
	if err != nil {
		return err
	}
	defer t.end()
	if err := t.updateRemote(dev, indexID, reset, last, lastSeq); err != nil {
		return fmt.Errorf("updating remote records of folder %q from %v: %w", f.id, dev, err)
	}
	return nil
}

func (t *txn) updateRemote(dev identity.DeviceID, indexID uint64, reset bool, last map[string]*wire.FileInfo, lastSeq int64) error {
	s, fnum := t.f.s, t.f.num
	num, known := s.deviceNum(dev)
	if !known {
		num = s.nextDevice
		if num == 0 {
			return fmt.Errorf("device numbers exhausted")
		}
		_ = t.b.Set(keyDevice(num), []byte(dev), nil)
		_ = t.b.Set(keyNextDevice, binary.BigEndian.AppendUint32(nil, num+1), nil)
	} else if !reset {
		v, ok, err := s.get(keyPeer(fnum, num))
		if err != nil {
			return err
		}
		if ok {
			stored, _, err := decodePeer(v)
			if err != nil {
				return err
			}
			if stored != 0 && stored != indexID {
				return fmt.Errorf("%w: index ID %016x differs from %016x and reset is not set", ErrInvalid, indexID, stored)
			}
		}
	}

	names := sortedKeys(last)
	if reset && known {
		var gone []string
		err := t.eachRemoteName(num, func(name string) error {
			if last[name] == nil {
				gone = append(gone, name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		names = append(names, gone...)
		slices.Sort(names)
	}
	for _, name := range names {
		k := keyRemote(fnum, num, name)
		fi := last[name]
		if fi == nil {
			_ = t.b.Delete(k, nil)
		} else {
			val, err := encodeRemote(fi)
			if err != nil {
				return fmt.Errorf("encoding %q: %w", name, err)
			}
			_ = t.b.Set(k, val, nil)
		}
		if err := t.recompute(name, num, fi); err != nil {
			return err
		}
	}
	_ = t.b.Set(keyPeer(fnum, num), encodePeer(indexID, lastSeq), nil)
	if err := t.commit(pebble.NoSync); err != nil {
		return err
	}
	if !known {
		s.nextDevice++
		s.reg.Lock()
		s.reg.devNum[dev], s.reg.devID[num] = num, dev
		s.reg.Unlock()
	}
	return nil
}

// eachRemoteName visits the names of every record of device number dev.
func (t *txn) eachRemoteName(dev uint32, fn func(string) error) error {
	p := keyRemotePrefix(t.f.num, dev)
	it, err := t.v.src.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if err := fn(string(it.Key()[len(p):])); err != nil {
			return err
		}
	}
	return it.Error()
}

// DropRemote forgets everything dev announced.
func (f *Folder) DropRemote(dev identity.DeviceID) error {
	t, err := f.beginWrite()
	if err != nil {
		return err
	}
	defer t.end()
	num, ok := f.s.deviceNum(dev)
	if !ok || dev == f.s.local {
		return nil
	}
	err = t.eachRemoteName(num, func(name string) error {
		_ = t.b.Delete(keyRemote(f.num, num, name), nil)
		return t.recompute(name, num, nil)
	})
	if err == nil {
		_ = t.b.Delete(keyPeer(f.num, num), nil)
		err = t.commit(pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("dropping records of %v from folder %q: %w", dev, f.id, err)
	}
	return nil
}

// cand is one device's record of a name.
type cand struct {
	dev uint32
	fi  *wire.FileInfo
}

// recompute rebuilds the global entry of name after device dev's record
// became rec (nil: removed), and updates 'Q' and the counters.
func (t *txn) recompute(name string, dev uint32, rec *wire.FileInfo) error {
	old, had, err := t.v.global(name)
	if err != nil {
		return err
	}
	var cands []cand
	if had {
		cands = make([]cand, 0, len(old.devs)+1)
		for _, d := range old.devs {
			if d.dev == dev {
				continue
			}
			fi, ok, err := t.v.record(d.dev, name)
			if err != nil {
				return err
			}
			if !ok {
				return corrupt(fmt.Sprintf("global entry %q", name), fmt.Sprintf("device %d has no record", d.dev))
			}
			cands = append(cands, cand{dev: d.dev, fi: fi})
		}
	}
	if rec != nil {
		cands = append(cands, cand{dev: dev, fi: rec})
	}
	var g *gEntry
	if len(cands) > 0 {
		g = resolve(cands)
	}

	gk := keyGlobal(t.f.num, name)
	if had {
		t.meta.counts.addGlobal(old, -1)
	}
	if g != nil {
		t.meta.counts.addGlobal(g, 1)
		_ = t.b.Set(gk, encodeGlobal(g), nil)
	} else {
		_ = t.b.Delete(gk, nil)
	}
	wasNeeded, needed := had && old.needed, g != nil && g.needed
	switch {
	case needed && !wasNeeded:
		_ = t.b.Set(keyNeed(t.f.num, name), nil, nil)
	case wasNeeded && !needed:
		_ = t.b.Delete(keyNeed(t.f.num, name), nil)
	}
	return nil
}

// resolve computes the global entry of a non-empty set of records.
// Candidates are ordered by device number, local first, so among records
// that tie completely the local one is the winner.
func resolve(cands []cand) *gEntry {
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(a.dev, b.dev) })
	recs := make([]*wire.FileInfo, len(cands))
	var local *wire.FileInfo
	for i, c := range cands {
		recs[i] = c.fi
		if c.dev == localDev {
			local = c.fi
		}
	}
	w := SelectWinner(recs)
	if local != nil && local.LocalFlags&FlagLocalOnly != 0 && len(recs) > 1 {
		// A receive-only folder's local change is kept but never wins
		// over what the other devices hold: the winner comes from them,
		// so their changes still arrive (a concurrent local change then
		// becomes a conflict copy).
		others := make([]*wire.FileInfo, 0, len(recs)-1)
		idx := make([]int, 0, len(recs)-1)
		for i, c := range cands {
			if c.dev != localDev {
				others = append(others, c.fi)
				idx = append(idx, i)
			}
		}
		w = idx[SelectWinner(others)]
	}
	win := recs[w]
	g := &gEntry{winnerDeleted: win.Deleted, winnerType: win.Type, winnerSize: win.Size}
	g.devs = make([]gDev, 0, len(cands))
	g.devs = append(g.devs, gDev{dev: cands[w].dev, equal: true})
	for i, c := range cands {
		if i != w {
			g.devs = append(g.devs, gDev{dev: c.dev, equal: Compare(c.fi.Version, win.Version) == Equal})
		}
	}
	g.needed = needs(local, win)
	return g
}

// needs reports whether a device holding local (nil: nothing) lacks win.
// A local-only change newer than the winner is not a need: it is what a
// receive-only folder keeps back.
func needs(local, win *wire.FileInfo) bool {
	if local == nil {
		return !win.Deleted
	}
	o := Compare(local.Version, win.Version)
	if local.LocalFlags&FlagLocalOnly != 0 && o == Greater {
		return false
	}
	return o != Equal
}

// Local record flags (wire.FileInfo.LocalFlags), never sent.
const (
	// FlagLocalOnly marks a receive-only folder's local change: kept in
	// the index, never sent, never the global winner over other devices.
	FlagLocalOnly = 1 << 0
	// FlagForgotten marks a deletion this device adopted while keeping
	// the directory on disk for the ignored files inside it.
	FlagForgotten = 1 << 1
)

func (c *Counts) addLocal(fi *wire.FileInfo, sign int64) {
	switch {
	case fi.Deleted:
	case fi.Type == wire.FileType_FILE_TYPE_DIRECTORY:
		c.LocalDirs += sign
	default:
		c.LocalFiles += sign
		c.LocalBytes += sign * fi.Size
	}
}

func (c *Counts) addGlobal(g *gEntry, sign int64) {
	switch {
	case g.winnerDeleted:
	case g.winnerType == wire.FileType_FILE_TYPE_DIRECTORY:
		c.GlobalDirs += sign
	default:
		c.GlobalFiles += sign
		c.GlobalBytes += sign * g.winnerSize
	}
	if g.needed {
		c.NeedFiles += sign
		if !g.winnerDeleted && g.winnerType != wire.FileType_FILE_TYPE_DIRECTORY {
			c.NeedBytes += sign * g.winnerSize
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// DropLocal removes the local records of names, as if this device had never
// recorded them: the global state of each name is recomputed from the other
// devices' records, so the names become needed again. A receive-only
// folder's revert uses it for local changes it never sent.
func (f *Folder) DropLocal(names []string) error {
	if len(names) == 0 {
		return nil
	}
	t, err := f.beginWrite()
	if err != nil {
		return err
	}
	defer t.end()
	err = func() error {
		for _, name := range names {
			old, had, err := t.v.local(name)
			if err != nil {
				return err
			}
			if !had {
				continue
			}
			_ = t.b.Delete(keyLocal(f.num, name), nil)
			_ = t.b.Delete(keySeq(f.num, old.Info.Sequence), nil)
			for _, h := range fileBlocks(old.Info) {
				_ = t.b.Delete(keyBlock(f.num, h.Hash, name), nil)
			}
			t.meta.counts.addLocal(old.Info, -1)
			if err := t.recompute(name, localDev, nil); err != nil {
				return err
			}
		}
		return t.commit(pebble.Sync)
	}()
	if err != nil {
		return fmt.Errorf("dropping local records of folder %q: %w", f.id, err)
	}
	return nil
}
