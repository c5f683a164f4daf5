package index

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// iterSource is a *pebble.DB or a *pebble.Snapshot.
type iterSource interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}

// seeker does point lookups with one reused iterator, which is several
// times cheaper than Get with a fresh iterator each time, especially when
// keys are looked up in ascending order.
type seeker struct{ it *pebble.Iterator }

// get returns the value of key, valid until the next call.
func (s *seeker) get(key []byte) ([]byte, bool, error) {
	if !s.it.SeekGE(key) {
		return nil, false, s.it.Error()
	}
	if !bytes.Equal(s.it.Key(), key) {
		return nil, false, nil
	}
	v, err := s.it.ValueAndErr()
	return v, err == nil, err
}

// view reads one folder from one consistent state: a snapshot for readers,
// or the live database for the writer (which holds wmu, so nothing else
// changes it).
type view struct {
	s       *Store
	f       *Folder
	src     iterSource
	snap    *pebble.Snapshot
	locals  *seeker
	globals *seeker
	remote  map[uint32]*seeker
}

func (s *Store) newView(f *Folder, snapshot bool) *view {
	v := &view{s: s, f: f, src: s.db, remote: map[uint32]*seeker{}}
	if snapshot {
		v.snap = s.db.NewSnapshot()
		v.src = v.snap
	}
	return v
}

func (v *view) close() {
	for _, sk := range append([]*seeker{v.locals, v.globals}, mapValues(v.remote)...) {
		if sk != nil {
			_ = sk.it.Close()
		}
	}
	if v.snap != nil {
		_ = v.snap.Close()
	}
}

func mapValues(m map[uint32]*seeker) []*seeker {
	out := make([]*seeker, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	return out
}

// lookup finds key with the seeker in *sk, creating it over the key space
// starting with lower on first use.
func (v *view) lookup(sk **seeker, lower, key []byte) ([]byte, bool, error) {
	if *sk == nil {
		it, err := v.src.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
		if err != nil {
			return nil, false, err
		}
		*sk = &seeker{it: it}
	}
	return (*sk).get(key)
}

func (v *view) local(name string) (LocalFile, bool, error) {
	val, ok, err := v.lookup(&v.locals, folderKey(pLocal, v.f.num, 0), keyLocal(v.f.num, name))
	if err != nil || !ok {
		return LocalFile{}, false, err
	}
	lf, err := decodeLocal(name, val)
	return lf, err == nil, err
}

func (v *view) remoteRec(dev uint32, name string) (*wire.FileInfo, bool, error) {
	sk := v.remote[dev]
	val, ok, err := v.lookup(&sk, keyRemotePrefix(v.f.num, dev), keyRemote(v.f.num, dev, name))
	if sk != nil {
		v.remote[dev] = sk
	}
	if err != nil || !ok {
		return nil, false, err
	}
	fi, err := decodeRemote(name, val)
	return fi, err == nil, err
}

// record returns the record of name held by device number dev.
func (v *view) record(dev uint32, name string) (*wire.FileInfo, bool, error) {
	if dev == localDev {
		lf, ok, err := v.local(name)
		return lf.Info, ok, err
	}
	return v.remoteRec(dev, name)
}

func (v *view) global(name string) (*gEntry, bool, error) {
	val, ok, err := v.lookup(&v.globals, folderKey(pGlobal, v.f.num, 0), keyGlobal(v.f.num, name))
	if err != nil || !ok {
		return nil, false, err
	}
	g, err := decodeGlobal(name, val)
	return g, err == nil, err
}

// entry loads the winner of g and resolves its availability.
func (v *view) entry(name string, g *gEntry) (GlobalEntry, error) {
	w, ok, err := v.record(g.devs[0].dev, name)
	if err != nil {
		return GlobalEntry{}, err
	}
	if !ok {
		return GlobalEntry{}, corrupt(fmt.Sprintf("global entry %q", name), fmt.Sprintf("winner device %d has no record", g.devs[0].dev))
	}
	ge := GlobalEntry{Winner: w, Availability: make([]identity.DeviceID, 0, len(g.devs))}
	for _, d := range g.devs {
		if !d.equal {
			continue
		}
		id, ok := v.s.deviceID(d.dev)
		if !ok {
			return GlobalEntry{}, corrupt(fmt.Sprintf("global entry %q", name), fmt.Sprintf("unknown device %d", d.dev))
		}
		ge.Availability = append(ge.Availability, id)
	}
	return ge, nil
}

func bytes2u64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
