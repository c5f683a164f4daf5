package index

import (
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// model is the naive in-memory index the store is compared against.
type model struct {
	local  map[string]*wire.FileInfo
	remote map[identity.DeviceID]map[string]*wire.FileInfo
	state  map[identity.DeviceID][2]int64 // index ID, last sequence
}

type modelRec struct {
	dev identity.DeviceID
	fi  *wire.FileInfo
}

func (m *model) records(name string) []modelRec {
	var out []modelRec
	if fi := m.local[name]; fi != nil {
		out = append(out, modelRec{devLocal, fi})
	}
	for _, dev := range slices.Sorted(maps.Keys(m.remote)) {
		if fi := m.remote[dev][name]; fi != nil {
			out = append(out, modelRec{dev, fi})
		}
	}
	return out
}

// global returns the winner of name and the devices with its version.
func (m *model) global(name string) (*wire.FileInfo, []identity.DeviceID) {
	recs := m.records(name)
	if len(recs) == 0 {
		return nil, nil
	}
	fis := make([]*wire.FileInfo, len(recs))
	for i, r := range recs {
		fis[i] = r.fi
	}
	w := fis[SelectWinner(fis)]
	var avail []identity.DeviceID
	for _, r := range recs {
		if Compare(r.fi.Version, w.Version) == Equal {
			avail = append(avail, r.dev)
		}
	}
	return w, sortedDevs(avail)
}

func (m *model) names() []string {
	set := map[string]bool{}
	for n := range m.local {
		set[n] = true
	}
	for _, recs := range m.remote {
		for n := range recs {
			set[n] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

var modelNames = []string{"a", "a/b", "a/b/c", "a/b/d", "a/b.txt", "a/c", "b", "b/x", "b/y", "c", "d/e/f", "d/e/g",
	"e", "f", "g", "h", "i", "j", "k", "l", "m/n", "m/o", "p", "q"}

var modelDevs = []identity.DeviceID{devA, devB, devC}

// recordFor derives all of a record's content from its version, so records
// with equal versions are identical apart from Sequence, as in a correct
// cluster.
func recordFor(name string, v *wire.Vector) *wire.FileInfo {
	h := fnv.New64a()
	for _, c := range counters(v) {
		fmt.Fprintf(h, "%d:%d,", c.Id, c.Value)
	}
	x := h.Sum64()
	fi := &wire.FileInfo{
		Name:       name,
		Version:    Clone(v),
		Deleted:    x%5 == 0,
		ModifiedS:  int64(x >> 8 % 4),
		ModifiedBy: x >> 16 % 3,
		BlocksHash: []byte{byte(x >> 20 % 3)},
	}
	if x>>24%9 == 0 {
		fi.Type = wire.FileType_FILE_TYPE_DIRECTORY
		return fi
	}
	if !fi.Deleted {
		for i := range x >> 28 % 4 {
			fi.Blocks = append(fi.Blocks, &wire.BlockInfo{Offset: int64(i) * 100, Size: 100, Hash: hashOf(fmt.Sprint(x >> (32 + 3*i) % 6))})
		}
		fi.Size = int64(len(fi.Blocks)) * 100
	}
	return fi
}

type modelGen struct {
	r *rand.Rand
	m *model
}

func (g *modelGen) vector() *wire.Vector {
	v := &wire.Vector{}
	for id := uint64(1); id <= 3; id++ {
		v.Counters = append(v.Counters, &wire.Counter{Id: id, Value: uint64(g.r.IntN(4))})
	}
	Normalize(v)
	return v
}

// version picks a version for a new record of name: often one another
// device has (so versions are equal), sometimes one dominating it.
func (g *modelGen) version(name string) *wire.Vector {
	recs := g.m.records(name)
	switch n := g.r.IntN(10); {
	case n < 4 && len(recs) > 0:
		return Clone(recs[g.r.IntN(len(recs))].fi.Version)
	case n < 6 && len(recs) > 0:
		return Bump(recs[g.r.IntN(len(recs))].fi.Version, uint64(1+g.r.IntN(3)))
	}
	return g.vector()
}

func (g *modelGen) records(max int) []*wire.FileInfo {
	var out []*wire.FileInfo
	for range g.r.IntN(max + 1) {
		name := modelNames[g.r.IntN(len(modelNames))]
		out = append(out, recordFor(name, g.version(name)))
	}
	return out
}

// TestModel runs thousands of random operations and compares Need, Global,
// Counts, the change log and the chunk map with the naive model.
func TestModel(t *testing.T) {
	ops := 3000
	if testing.Short() {
		ops = 500
	}
	dir := t.TempDir()
	s, err := Open(dir, Options{Local: devLocal, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	f := mustFolder(t, s, "model")
	m := &model{local: map[string]*wire.FileInfo{}, remote: map[identity.DeviceID]map[string]*wire.FileInfo{},
		state: map[identity.DeviceID][2]int64{}}
	g := &modelGen{r: rand.New(rand.NewPCG(1, 2)), m: m}
	indexIDs := map[identity.DeviceID]uint64{devA: 1, devB: 2, devC: 3}

	for op := range ops {
		switch n := g.r.IntN(100); {
		case n < 50:
			recs := g.records(4)
			if err := f.UpdateLocal(locals(recs...)); err != nil {
				t.Fatal(err)
			}
			for _, fi := range recs {
				m.local[fi.Name] = fi
			}
		case n < 92:
			dev := modelDevs[g.r.IntN(len(modelDevs))]
			reset := n >= 87
			recs := g.records(5)
			if reset && g.r.IntN(2) == 0 {
				indexIDs[dev]++
			}
			seq := m.state[dev][1] + int64(len(recs))
			if err := f.UpdateRemote(dev, indexIDs[dev], reset, recs, seq); err != nil {
				t.Fatal(err)
			}
			if reset || m.remote[dev] == nil {
				m.remote[dev] = map[string]*wire.FileInfo{}
			}
			for _, fi := range recs {
				m.remote[dev][fi.Name] = fi
			}
			m.state[dev] = [2]int64{int64(indexIDs[dev]), seq}
		case n < 99:
			dev := modelDevs[g.r.IntN(len(modelDevs))]
			if err := f.DropRemote(dev); err != nil {
				t.Fatal(err)
			}
			delete(m.remote, dev)
			delete(m.state, dev)
		default:
			id, seq := f.IndexID(), f.Sequence()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(dir, Options{Local: devLocal, Logger: testLogger(t)}); err != nil {
				t.Fatal(err)
			}
			f = mustFolder(t, s, "model")
			if f.IndexID() != id || f.Sequence() != seq {
				t.Fatalf("reopen changed index ID or sequence")
			}
		}
		if op%40 == 0 {
			verifyModel(t, f, m)
		}
		if t.Failed() {
			t.Fatalf("after op %d", op)
		}
	}
	verifyModel(t, f, m)
}

func verifyModel(t *testing.T, f *Folder, m *model) {
	t.Helper()
	var want Counts
	var needNames []string
	for _, name := range m.names() {
		w, avail := m.global(name)
		ge, ok, err := f.Global(name)
		if err != nil || !ok {
			t.Fatalf("Global(%s) = %v %v", name, ok, err)
		}
		if !sameRecord(ge.Winner, w) || !slices.Equal(sortedDevs(ge.Availability), avail) {
			t.Fatalf("Global(%s) = %v at %v, want %v at %v", name, ge.Winner, ge.Availability, w, avail)
		}
		// Independent of the package's own helpers on purpose.
		isDir := w.Type == wire.FileType_FILE_TYPE_DIRECTORY
		switch {
		case w.Deleted:
		case isDir:
			want.GlobalDirs++
		default:
			want.GlobalFiles++
			want.GlobalBytes += w.Size
		}
		ml := m.local[name]
		if (ml == nil && !w.Deleted) || (ml != nil && Compare(ml.Version, w.Version) != Equal) {
			needNames = append(needNames, name)
			want.NeedFiles++
			if !w.Deleted && !isDir {
				want.NeedBytes += w.Size
			}
		}
	}
	for _, name := range modelNames {
		if len(m.records(name)) == 0 {
			if _, ok, err := f.Global(name); ok || err != nil {
				t.Fatalf("Global(%s) exists without records: %v", name, err)
			}
		}
	}

	var got []string
	err := f.Need(func(g GlobalEntry, local *LocalFile) error {
		name := g.Winner.Name
		got = append(got, name)
		w, avail := m.global(name)
		if !sameRecord(g.Winner, w) || !slices.Equal(sortedDevs(g.Availability), avail) {
			t.Errorf("Need(%s) winner %v at %v, want %v at %v", name, g.Winner, g.Availability, w, avail)
		}
		ml := m.local[name]
		if (local == nil) != (ml == nil) || (local != nil && !proto.Equal(local.Info, ml)) {
			t.Errorf("Need(%s) local %v, want %v", name, local, ml)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, needNames) {
		t.Fatalf("Need = %q, want %q", got, needNames)
	}

	var prev int64
	seen := 0
	err = f.LocalSince(0, func(fi *wire.FileInfo) error {
		if fi.Sequence <= prev || !proto.Equal(fi, m.local[fi.Name]) {
			t.Errorf("LocalSince: %v after sequence %d, model %v", fi, prev, m.local[fi.Name])
		}
		prev = fi.Sequence
		seen++
		return nil
	})
	if err != nil || seen != len(m.local) || prev > f.Sequence() {
		t.Fatalf("LocalSince saw %d of %d records, last %d of %d: %v", seen, len(m.local), prev, f.Sequence(), err)
	}

	holders := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(m.local)) {
		fi := m.local[name]
		if fi.Deleted {
			continue
		}
		if fi.Type == wire.FileType_FILE_TYPE_DIRECTORY {
			want.LocalDirs++
			continue
		}
		want.LocalFiles++
		want.LocalBytes += fi.Size
		seenHash := map[string]bool{}
		for _, b := range fi.Blocks {
			if !seenHash[string(b.Hash)] {
				seenHash[string(b.Hash)] = true
				holders[string(b.Hash)] = append(holders[string(b.Hash)], name)
			}
		}
	}
	for i := range 6 {
		h := fmt.Sprint(i)
		if got := blockNames(t, f, h); !slices.Equal(got, holders[string(hashOf(h))]) {
			t.Fatalf("BlockLocations(%s) = %q, want %q", h, got, holders[string(hashOf(h))])
		}
	}

	if c, _ := f.Counts(); c != want {
		t.Fatalf("Counts = %+v, want %+v", c, want)
	}
	for _, dev := range modelDevs {
		id, seq, err := f.RemoteState(dev)
		if err != nil || [2]int64{int64(id), seq} != m.state[dev] {
			t.Fatalf("RemoteState(%v) = %d %d %v, want %v", dev, id, seq, err, m.state[dev])
		}
	}
	mustCheck(t, f)
}
