package index

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/transport/wire"
)

// testDev returns a deterministic device ID.
func testDev(i byte) identity.DeviceID {
	return identity.FromPublicKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{i + 1}, 32)).Public().(ed25519.PublicKey))
}

var (
	devLocal = testDev(0)
	devA     = testDev(1)
	devB     = testDev(2)
	devC     = testDev(3)
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// openTest opens a store in dir and closes it at the end of the test.
func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Local: devLocal, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustFolder(t testing.TB, s *Store, id string) *Folder {
	t.Helper()
	f, err := s.Folder(id)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// file returns a file record with one block per block name.
func file(name string, v *wire.Vector, mtime int64, blocks ...string) *wire.FileInfo {
	fi := &wire.FileInfo{Name: name, Version: v, ModifiedS: mtime, Permissions: 0o644}
	var off int64
	for _, b := range blocks {
		fi.Blocks = append(fi.Blocks, &wire.BlockInfo{Offset: off, Size: 100, Hash: hashOf(b)})
		off += 100
	}
	fi.Size = off
	return fi
}

func dir(name string, v *wire.Vector) *wire.FileInfo {
	return &wire.FileInfo{Name: name, Type: wire.FileType_FILE_TYPE_DIRECTORY, Version: v, Permissions: 0o755}
}

func deleted(name string, v *wire.Vector, mtime int64) *wire.FileInfo {
	return &wire.FileInfo{Name: name, Version: v, Deleted: true, ModifiedS: mtime}
}

func locals(fis ...*wire.FileInfo) []LocalFile {
	out := make([]LocalFile, len(fis))
	for i, fi := range fis {
		out[i] = LocalFile{Info: fi, Inode: uint64(1000 + i)}
	}
	return out
}

func mustLocal(t testing.TB, f *Folder, fis ...*wire.FileInfo) {
	t.Helper()
	if err := f.UpdateLocal(locals(fis...)); err != nil {
		t.Fatal(err)
	}
}

func mustRemote(t testing.TB, f *Folder, dev identity.DeviceID, reset bool, fis ...*wire.FileInfo) {
	t.Helper()
	if err := f.UpdateRemote(dev, 7, reset, fis, int64(len(fis))); err != nil {
		t.Fatal(err)
	}
}

func mustCheck(t testing.TB, f *Folder) {
	t.Helper()
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
}

// needList returns the names Need visits.
func needList(t testing.TB, f *Folder) []string {
	t.Helper()
	var names []string
	err := f.Need(func(g GlobalEntry, local *LocalFile) error {
		names = append(names, g.Winner.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func blockNames(t testing.TB, f *Folder, block string) []string {
	t.Helper()
	var names []string
	err := f.BlockLocations(hashOf(block), func(name string, _ int64, _ int32) bool {
		names = append(names, name)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// sameRecord compares records ignoring Sequence, which differs between a
// record and its copies on other devices.
func sameRecord(a, b *wire.FileInfo) bool {
	a, b = proto.Clone(a).(*wire.FileInfo), proto.Clone(b).(*wire.FileInfo)
	a.Sequence, b.Sequence = 0, 0
	return proto.Equal(a, b)
}

func sortedDevs(ds []identity.DeviceID) []identity.DeviceID {
	out := slices.Clone(ds)
	slices.Sort(out)
	return out
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}
