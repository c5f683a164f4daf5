package index

import (
	"errors"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

func TestLocalUpdateAndRead(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	recs := []*wire.FileInfo{
		dir("a", vec(1, 1)),
		dir("a/b", vec(1, 1)),
		file("a/b/c", vec(1, 1), 10, "x", "y"),
		file("a/b.txt", vec(1, 1), 10, "z"),
		file("a/bb", vec(1, 1), 10),
		deleted("gone", vec(1, 2), 10),
		{Name: "link", Type: wire.FileType_FILE_TYPE_SYMLINK, SymlinkTarget: "a/b", Version: vec(1, 1)},
	}
	mustLocal(t, f, recs...)
	for i, fi := range recs {
		if fi.Sequence != int64(i+1) {
			t.Fatalf("%s: sequence %d, want %d", fi.Name, fi.Sequence, i+1)
		}
	}
	if f.Sequence() != int64(len(recs)) {
		t.Fatalf("Sequence = %d", f.Sequence())
	}
	lf, ok, err := f.Local("a/b/c")
	if err != nil || !ok || !sameRecord(lf.Info, recs[2]) || lf.Info.Sequence != 3 || lf.Inode != 1002 {
		t.Fatalf("Local = %v %v %v", lf, ok, err)
	}
	if _, ok, err := f.Local("nope"); ok || err != nil {
		t.Fatalf("Local(nope) = %v %v", ok, err)
	}

	walk := func(prefix string) []string {
		var names []string
		if err := f.WalkLocal(prefix, func(lf LocalFile) error {
			names = append(names, lf.Info.Name)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return names
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a", "a/b", "a/b.txt", "a/b/c", "a/bb", "gone", "link"}},
		{"a/b", []string{"a/b", "a/b/c"}},
		{"a/b/", []string{"a/b", "a/b/c"}},
		{"a", []string{"a", "a/b", "a/b.txt", "a/b/c", "a/bb"}},
		{"zzz", nil},
	} {
		if got := walk(tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("WalkLocal(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	stop := errors.New("stop")
	if err := f.WalkLocal("", func(LocalFile) error { return stop }); err != stop {
		t.Fatalf("WalkLocal error = %v", err)
	}

	c, err := f.Counts()
	if err != nil {
		t.Fatal(err)
	}
	want := Counts{LocalFiles: 4, LocalDirs: 2, LocalBytes: 300, GlobalFiles: 4, GlobalDirs: 2, GlobalBytes: 300}
	if c != want {
		t.Fatalf("Counts = %+v, want %+v", c, want)
	}
	if got := needList(t, f); len(got) != 0 {
		t.Fatalf("Need = %q, want nothing", got)
	}
	mustCheck(t, f)
}

func TestUpdateLocalRejectsInvalid(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	for _, fi := range []*wire.FileInfo{
		nil,
		{Name: ""},
		{Name: "/abs"},
		{Name: "a/../b"},
		{Name: "a//b"},
		{Name: "a/"},
		{Name: "bad\x00name"},
		{Name: "neg", Size: -1},
		{Name: "v", Version: &wire.Vector{Counters: []*wire.Counter{{Id: 2, Value: 1}, {Id: 1, Value: 1}}}},
		{Name: "h", Blocks: []*wire.BlockInfo{{Hash: make([]byte, MaxHashLen+1)}}},
	} {
		err := f.UpdateLocal([]LocalFile{{Info: file("ok", vec(1, 1), 1)}, {Info: fi}})
		wantErr(t, err, ErrInvalid)
	}
	if f.Sequence() != 0 {
		t.Fatalf("a rejected batch used sequence numbers")
	}
	if _, ok, _ := f.Local("ok"); ok {
		t.Fatal("a rejected batch stored a record")
	}
}

func TestSequencesAndReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Local: devLocal, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	f := mustFolder(t, s, "default")
	id := f.IndexID()
	if id == 0 {
		t.Fatal("index ID is zero")
	}
	mustLocal(t, f, file("a", vec(1, 1), 1, "x"), file("b", vec(1, 1), 1), file("c", vec(1, 1), 1))
	mustLocal(t, f, file("a", vec(1, 2), 2, "y"), file("d", vec(1, 1), 1)) // a: 4, d: 5
	mustLocal(t, f, file("b", vec(1, 2), 2), file("b", vec(1, 3), 3))      // b: 6 and 7, 7 kept

	since := func(f *Folder, after int64) (names []string, seqs []int64) {
		if err := f.LocalSince(after, func(fi *wire.FileInfo) error {
			names, seqs = append(names, fi.Name), append(seqs, fi.Sequence)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return names, seqs
	}
	check := func(f *Folder) {
		t.Helper()
		names, seqs := since(f, 0)
		if !slices.Equal(names, []string{"c", "a", "d", "b"}) || !slices.Equal(seqs, []int64{3, 4, 5, 7}) {
			t.Fatalf("LocalSince(0) = %q %v", names, seqs)
		}
		if names, _ := since(f, 4); !slices.Equal(names, []string{"d", "b"}) {
			t.Fatalf("LocalSince(4) = %q", names)
		}
		if names, _ := since(f, 7); len(names) != 0 {
			t.Fatalf("LocalSince(7) = %q", names)
		}
		if f.Sequence() != 7 {
			t.Fatalf("Sequence = %d", f.Sequence())
		}
		lf, _, _ := f.Local("b")
		if lf.Info.Version.Counters[0].Value != 3 || lf.Info.ModifiedS != 3 {
			t.Fatalf("b = %v, want the last occurrence", lf.Info)
		}
		if got := blockNames(t, f, "x"); len(got) != 0 {
			t.Fatalf("old block x still at %q", got)
		}
		if got := blockNames(t, f, "y"); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("block y at %q", got)
		}
		mustCheck(t, f)
	}
	check(f)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	f = mustFolder(t, s, "default")
	if f.IndexID() != id {
		t.Fatalf("index ID changed across reopen: %x → %x", id, f.IndexID())
	}
	check(f)
	mustLocal(t, f, file("e", vec(1, 1), 1))
	if lf, _, _ := f.Local("e"); lf.Info.Sequence != 8 {
		t.Fatalf("sequence after reopen = %d, want 8", lf.Info.Sequence)
	}
}

func TestDropFolderNewIndexID(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "one")
	other := mustFolder(t, s, "two")
	if f2 := mustFolder(t, s, "one"); f2 != f {
		t.Fatal("Folder returned a second handle")
	}
	mustLocal(t, f, file("a", vec(1, 1), 1, "x"))
	mustRemote(t, f, devA, true, file("b", vec(2, 1), 1))
	mustLocal(t, other, file("a", vec(1, 1), 1, "x"))
	id := f.IndexID()

	if err := s.DropFolder("one"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Local("a"); !errors.Is(err, ErrDropped) {
		t.Fatalf("old handle: %v", err)
	}
	wantErr(t, f.UpdateLocal(locals(file("a", vec(1, 2), 1))), ErrDropped)
	if err := s.DropFolder("never"); err != nil {
		t.Fatal(err)
	}
	ids, err := s.Folders()
	if err != nil || !slices.Equal(ids, []string{"two"}) {
		t.Fatalf("Folders = %q %v", ids, err)
	}

	f = mustFolder(t, s, "one")
	if f.IndexID() == id || f.IndexID() == 0 || f.Sequence() != 0 {
		t.Fatalf("recreated folder: index ID %x (old %x), sequence %d", f.IndexID(), id, f.Sequence())
	}
	if _, ok, _ := f.Local("a"); ok {
		t.Fatal("local record survived DropFolder")
	}
	if _, ok, _ := f.Global("b"); ok {
		t.Fatal("global entry survived DropFolder")
	}
	if c, _ := f.Counts(); c != (Counts{}) {
		t.Fatalf("Counts = %+v", c)
	}
	if got := blockNames(t, f, "x"); len(got) != 0 {
		t.Fatalf("blocks survived: %q", got)
	}
	if got := blockNames(t, other, "x"); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("other folder's blocks: %q", got)
	}
	mustCheck(t, f)
	mustCheck(t, other)
}

func TestRemoteUpdateWithReset(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	if id, seq, err := f.RemoteState(devA); id != 0 || seq != 0 || err != nil {
		t.Fatalf("RemoteState of a stranger = %x %d %v", id, seq, err)
	}
	if err := f.UpdateRemote(devA, 0xabc, true, []*wire.FileInfo{file("a", vec(2, 1), 1), file("b", vec(2, 1), 1), file("c", vec(2, 1), 1)}, 3); err != nil {
		t.Fatal(err)
	}
	if err := f.UpdateRemote(devA, 0xabc, false, []*wire.FileInfo{file("d", vec(2, 1), 1)}, 4); err != nil {
		t.Fatal(err)
	}
	if id, seq, err := f.RemoteState(devA); id != 0xabc || seq != 4 || err != nil {
		t.Fatalf("RemoteState = %x %d %v", id, seq, err)
	}
	if got := needList(t, f); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("Need = %q", got)
	}
	// A different index ID needs a reset.
	err := f.UpdateRemote(devA, 0xdef, false, []*wire.FileInfo{file("e", vec(2, 1), 1)}, 1)
	wantErr(t, err, ErrInvalid)
	wantErr(t, f.UpdateRemote(devLocal, 1, true, nil, 0), ErrInvalid)

	if err := f.UpdateRemote(devA, 0xdef, true, []*wire.FileInfo{file("a", vec(2, 2), 2), file("z", vec(2, 1), 1)}, 2); err != nil {
		t.Fatal(err)
	}
	if id, seq, _ := f.RemoteState(devA); id != 0xdef || seq != 2 {
		t.Fatalf("RemoteState after reset = %x %d", id, seq)
	}
	for _, name := range []string{"b", "c", "d"} {
		if _, ok, err := f.Remote(devA, name); ok || err != nil {
			t.Fatalf("Remote(%s) after reset = %v %v", name, ok, err)
		}
		if _, ok, err := f.Global(name); ok || err != nil {
			t.Fatalf("Global(%s) after reset = %v %v", name, ok, err)
		}
	}
	fi, ok, err := f.Remote(devA, "a")
	if !ok || err != nil || fi.ModifiedS != 2 {
		t.Fatalf("Remote(a) = %v %v %v", fi, ok, err)
	}
	if got := needList(t, f); !slices.Equal(got, []string{"a", "z"}) {
		t.Fatalf("Need after reset = %q", got)
	}
	c, _ := f.Counts()
	if want := (Counts{GlobalFiles: 2, NeedFiles: 2}); c != want {
		t.Fatalf("Counts = %+v, want %+v", c, want)
	}
	mustCheck(t, f)
}

func TestGlobalWinnerThreeDevices(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	// Three concurrent versions: the later modification time wins.
	mustLocal(t, f, file("x", vec(1, 1), 100, "l"))
	mustRemote(t, f, devA, true, file("x", vec(2, 1), 300, "a"))
	mustRemote(t, f, devB, true, file("x", vec(3, 1), 200, "b"))
	g, ok, err := f.Global("x")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if g.Winner.ModifiedS != 300 || !slices.Equal(g.Availability, []identity.DeviceID{devA}) {
		t.Fatalf("winner %v available at %v", g.Winner, g.Availability)
	}
	// B merges everything and edits: it dominates, so it wins despite its
	// older mtime.
	mustRemote(t, f, devB, false, file("x", vec(1, 1, 2, 1, 3, 2), 50, "b2"))
	g, _, _ = f.Global("x")
	if g.Winner.ModifiedS != 50 || !slices.Equal(g.Availability, []identity.DeviceID{devB}) {
		t.Fatalf("winner %v available at %v", g.Winner, g.Availability)
	}
	// A concurrent deletion loses against an existing file even when newer.
	mustRemote(t, f, devA, false, deleted("x", vec(1, 1, 2, 2), 1000))
	g, _, _ = f.Global("x")
	if g.Winner.Deleted || g.Winner.ModifiedS != 50 {
		t.Fatalf("deletion won: %v", g.Winner)
	}
	// The local device catches up: it is available locally too.
	mustLocal(t, f, file("x", vec(1, 1, 2, 1, 3, 2), 50, "b2"))
	g, _, _ = f.Global("x")
	if !slices.Equal(sortedDevs(g.Availability), sortedDevs([]identity.DeviceID{devLocal, devB})) {
		t.Fatalf("availability %v", g.Availability)
	}
	if _, ok, err := f.Global("none"); ok || err != nil {
		t.Fatalf("Global(none) = %v %v", ok, err)
	}
	mustCheck(t, f)
}

func TestNeed(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustLocal(t, f,
		file("lesser", vec(1, 1), 1),
		file("concurrent-lose", vec(1, 1), 1),
		file("concurrent-win", vec(1, 1), 500),
		file("equal", vec(1, 1, 2, 1), 1, "e"),
		file("greater", vec(1, 2, 2, 1), 1),
		deleted("local-deleted", vec(1, 2), 1),
		file("local-only", vec(1, 1), 1),
	)
	mustRemote(t, f, devA, true,
		file("missing", vec(2, 1), 1, "m1", "m2"),
		file("lesser", vec(1, 1, 2, 1), 1, "l"),
		file("concurrent-lose", vec(2, 1), 100, "c"),
		file("concurrent-win", vec(2, 1), 100),
		file("equal", vec(1, 1, 2, 1), 1, "e"),
		file("greater", vec(2, 1), 1),
		deleted("deleted-winner", vec(2, 1), 1),
		file("local-deleted", vec(1, 3), 1, "d"),
	)
	want := []string{"concurrent-lose", "lesser", "local-deleted", "missing"}
	var got []string
	err := f.Need(func(g GlobalEntry, local *LocalFile) error {
		got = append(got, g.Winner.Name)
		if (local == nil) != (g.Winner.Name == "missing") {
			t.Errorf("%s: local %v", g.Winner.Name, local)
		}
		if local != nil && local.Info.Name != g.Winner.Name {
			t.Errorf("%s: local record of %s", g.Winner.Name, local.Info.Name)
		}
		if !slices.Equal(g.Availability, []identity.DeviceID{devA}) {
			t.Errorf("%s: availability %v", g.Winner.Name, g.Availability)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Need = %q, want %q", got, want)
	}
	c, _ := f.Counts()
	if c.NeedFiles != 4 || c.NeedBytes != 200+100+100+100 {
		t.Fatalf("Counts = %+v", c)
	}
	// Catch up on everything: nothing is needed any more.
	mustLocal(t, f,
		file("missing", vec(2, 1), 1, "m1", "m2"),
		file("lesser", vec(1, 1, 2, 1), 1, "l"),
		file("concurrent-lose", vec(2, 1), 100, "c"),
		file("local-deleted", vec(1, 3), 1, "d"),
	)
	if got := needList(t, f); len(got) != 0 {
		t.Fatalf("Need after catching up = %q", got)
	}
	if c, _ := f.Counts(); c.NeedFiles != 0 || c.NeedBytes != 0 {
		t.Fatalf("Counts = %+v", c)
	}
	mustCheck(t, f)
}

func TestAvailability(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	v := vec(1, 3, 2, 1)
	mustLocal(t, f, file("x", v, 1, "b"))
	mustRemote(t, f, devA, true, file("x", v, 1, "b"))
	mustRemote(t, f, devB, true, file("x", vec(1, 2), 1, "old"))
	mustRemote(t, f, devC, true, file("x", v, 1, "b"))
	g, _, err := f.Global("x")
	if err != nil {
		t.Fatal(err)
	}
	want := sortedDevs([]identity.DeviceID{devLocal, devA, devC})
	if got := sortedDevs(g.Availability); !slices.Equal(got, want) {
		t.Fatalf("availability %v, want %v", got, want)
	}
	// Ties between equal records prefer the local one.
	if g.Availability[0] != devLocal || g.Winner.Sequence != 1 {
		t.Fatalf("winner %v from %v", g.Winner, g.Availability[0])
	}
	if err := f.DropRemote(devA); err != nil {
		t.Fatal(err)
	}
	g, _, _ = f.Global("x")
	if got := sortedDevs(g.Availability); !slices.Equal(got, sortedDevs([]identity.DeviceID{devLocal, devC})) {
		t.Fatalf("availability after DropRemote %v", got)
	}
	mustCheck(t, f)
}

func TestBlockLocationsAfterRename(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustLocal(t, f, file("old", vec(1, 1), 1, "h1", "h2", "h1"), file("other", vec(1, 1), 1, "h2"))
	if got := blockNames(t, f, "h1"); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("h1 at %q", got)
	}
	var off []int64
	_ = f.BlockLocations(hashOf("h2"), func(name string, o int64, size int32) bool {
		off = append(off, o)
		return size == 100
	})
	if !slices.Equal(off, []int64{100, 0}) {
		t.Fatalf("h2 offsets %v", off)
	}
	var n int
	_ = f.BlockLocations(hashOf("h2"), func(string, int64, int32) bool { n++; return false })
	if n != 1 {
		t.Fatalf("BlockLocations went on after false: %d", n)
	}

	// The rename arrives as: new name first, then the deletion.
	mustLocal(t, f, file("new", vec(1, 1), 1, "h1", "h2", "h1"))
	if got := blockNames(t, f, "h1"); !slices.Equal(got, []string{"new", "old"}) {
		t.Fatalf("h1 at %q", got)
	}
	mustLocal(t, f, deleted("old", vec(1, 2), 2))
	if got := blockNames(t, f, "h1"); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("h1 after delete at %q", got)
	}
	if got := blockNames(t, f, "h2"); !slices.Equal(got, []string{"new", "other"}) {
		t.Fatalf("h2 after delete at %q", got)
	}
	// Content change replaces the blocks of a name.
	mustLocal(t, f, file("other", vec(1, 2), 2, "h3"))
	if got := blockNames(t, f, "h2"); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("h2 after change at %q", got)
	}
	if err := f.BlockLocations(nil, func(string, int64, int32) bool { t.Fatal("called"); return true }); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, f)
}

func TestDropRemote(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustLocal(t, f, file("a", vec(1, 1), 1))
	mustRemote(t, f, devA, true, file("a", vec(1, 1, 2, 1), 1), file("b", vec(2, 1), 1))
	mustRemote(t, f, devB, true, file("b", vec(2, 1), 1))
	if got := needList(t, f); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("Need = %q", got)
	}
	if err := f.DropRemote(devA); err != nil {
		t.Fatal(err)
	}
	if err := f.DropRemote(devC); err != nil { // never seen
		t.Fatal(err)
	}
	if got := needList(t, f); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Need after DropRemote = %q", got)
	}
	g, _, _ := f.Global("a")
	if g.Winner.Version.Counters[0].Id != 1 || len(g.Winner.Version.Counters) != 1 {
		t.Fatalf("winner of a = %v", g.Winner)
	}
	if _, ok, _ := f.Remote(devA, "b"); ok {
		t.Fatal("record survived DropRemote")
	}
	if id, seq, _ := f.RemoteState(devA); id != 0 || seq != 0 {
		t.Fatalf("RemoteState after DropRemote = %x %d", id, seq)
	}
	// Dropping the last holder removes the global entry.
	if err := f.DropRemote(devB); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.Global("b"); ok {
		t.Fatal("global entry without records")
	}
	c, _ := f.Counts()
	if want := (Counts{LocalFiles: 1, GlobalFiles: 1}); c != want {
		t.Fatalf("Counts = %+v, want %+v", c, want)
	}
	mustCheck(t, f)
}

func TestClosed(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustLocal(t, f, file("a", vec(1, 1), 1))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.Folder("default")
	wantErr(t, err, ErrClosed)
	wantErr(t, s.DropFolder("default"), ErrClosed)
	_, _, err = f.Local("a")
	wantErr(t, err, ErrClosed)
	wantErr(t, f.UpdateLocal(locals(file("b", vec(1, 1), 1))), ErrClosed)
	wantErr(t, f.UpdateRemote(devA, 1, true, nil, 0), ErrClosed)
	wantErr(t, f.DropRemote(devA), ErrClosed)
	wantErr(t, f.Need(func(GlobalEntry, *LocalFile) error { return nil }), ErrClosed)
	wantErr(t, f.LocalSince(0, func(*wire.FileInfo) error { return nil }), ErrClosed)
	wantErr(t, f.WalkLocal("", func(LocalFile) error { return nil }), ErrClosed)
	wantErr(t, f.BlockLocations(hashOf("x"), func(string, int64, int32) bool { return true }), ErrClosed)
	_, _, err = f.Global("a")
	wantErr(t, err, ErrClosed)
	_, _, err = f.Remote(devA, "a")
	wantErr(t, err, ErrClosed)
	_, _, err = f.RemoteState(devA)
	wantErr(t, err, ErrClosed)
	_, err = f.Counts()
	wantErr(t, err, ErrClosed)
}

func TestCorruptRecords(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustLocal(t, f, file("a", vec(1, 1), 1))
	mustRemote(t, f, devA, true, file("b", vec(2, 1), 1))
	num, _ := s.deviceNum(devA)
	for _, k := range [][]byte{keyLocal(f.num, "a"), keyRemote(f.num, num, "b"), keyGlobal(f.num, "b")} {
		if err := s.db.Set(k, []byte{1, 0xff, 0xff, 0x07}, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := f.Local("a")
	wantErr(t, err, ErrCorrupt)
	_, _, err = f.Remote(devA, "b")
	wantErr(t, err, ErrCorrupt)
	_, _, err = f.Global("b")
	wantErr(t, err, ErrCorrupt)
	wantErr(t, f.Need(func(GlobalEntry, *LocalFile) error { return nil }), ErrCorrupt)
	wantErr(t, f.LocalSince(0, func(*wire.FileInfo) error { return nil }), ErrCorrupt)
	wantErr(t, f.UpdateLocal(locals(file("a", vec(1, 2), 1))), ErrCorrupt)
	wantErr(t, f.Check(), ErrCorrupt)
}

func TestCheckFindsDrift(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustLocal(t, f, file("a", vec(1, 1), 1, "x"))
	mustCheck(t, f)
	if err := s.db.Delete(keyBlock(f.num, hashOf("x"), "a"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.Check(), ErrCorrupt)
}

func TestOpenRequiresLocal(t *testing.T) {
	_, err := Open(t.TempDir(), Options{})
	wantErr(t, err, ErrInvalid)
}
