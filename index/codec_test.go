package index

import (
	"errors"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/transport/wire"
)

// Record kinds for FuzzDecodeRecord.
const (
	kindLocal = iota
	kindRemote
	kindGlobal
	kindMeta
	kindPeer
	kindBlock
	numKinds
)

func fuzzSeeds(f *testing.F) {
	fi := file("a/b", vec(1, 3, 9, 1), 1700000000, "x", "y")
	fi.Sequence = 42
	lv, err := encodeLocal(LocalFile{Info: fi, Inode: 77})
	if err != nil {
		f.Fatal(err)
	}
	rv, err := encodeRemote(deleted("a/b", vec(2, 1), 5))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(byte(kindLocal), "a/b", lv)
	f.Add(byte(kindRemote), "a/b", rv)
	f.Add(byte(kindRemote), "a/b", lv)
	f.Add(byte(kindGlobal), "a/b", encodeGlobal(&gEntry{needed: true, winnerSize: 300, devs: []gDev{{3, true}, {0, false}, {1, true}}}))
	f.Add(byte(kindGlobal), "a/b", encodeGlobal(&gEntry{winnerDeleted: true, winnerType: wire.FileType_FILE_TYPE_SYMLINK, devs: []gDev{{0, true}}}))
	f.Add(byte(kindMeta), "", encodeMeta(&folderMeta{indexID: 9, seq: 100, counts: Counts{LocalFiles: 3, NeedBytes: -1}}))
	f.Add(byte(kindPeer), "", encodePeer(5, 1<<40))
	f.Add(byte(kindBlock), "", encodeBlock(1<<20, 65536))
	f.Add(byte(kindLocal), "a", []byte{1, 0xff})
	f.Add(byte(kindGlobal), "a", []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
}

// FuzzDecodeRecord feeds arbitrary bytes to every decoder of stored values:
// they must not panic, must fail with ErrCorrupt, and what they accept must
// survive an encode/decode round trip.
func FuzzDecodeRecord(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, kind byte, name string, v []byte) {
		var err error
		switch kind % numKinds {
		case kindLocal:
			var lf LocalFile
			if lf, err = decodeLocal(name, v); err == nil {
				enc, err := encodeLocal(lf)
				if err != nil {
					t.Fatal(err)
				}
				lf2, err := decodeLocal(name, enc)
				if err != nil || lf2.Inode != lf.Inode || !proto.Equal(lf2.Info, lf.Info) {
					t.Fatalf("local round trip: %v %v", lf2, err)
				}
			}
		case kindRemote:
			var fi *wire.FileInfo
			if fi, err = decodeRemote(name, v); err == nil {
				enc, err := encodeRemote(fi)
				if err != nil {
					t.Fatal(err)
				}
				fi2, err := decodeRemote(name, enc)
				if err != nil || !proto.Equal(fi2, fi) {
					t.Fatalf("remote round trip: %v %v", fi2, err)
				}
			}
		case kindGlobal:
			var g *gEntry
			if g, err = decodeGlobal(name, v); err == nil {
				g2, err := decodeGlobal(name, encodeGlobal(g))
				if err != nil || !reflect.DeepEqual(g, g2) {
					t.Fatalf("global round trip: %+v %+v %v", g, g2, err)
				}
			}
		case kindMeta:
			var m folderMeta
			if m, err = decodeMeta(v); err == nil {
				if m2, err := decodeMeta(encodeMeta(&m)); err != nil || m2 != m {
					t.Fatalf("meta round trip: %+v %+v %v", m, m2, err)
				}
			}
		case kindPeer:
			var id uint64
			var seq int64
			if id, seq, err = decodePeer(v); err == nil {
				if id2, seq2, err := decodePeer(encodePeer(id, seq)); err != nil || id2 != id || seq2 != seq {
					t.Fatal("peer round trip")
				}
			}
		case kindBlock:
			var off int64
			var size int32
			if off, size, err = decodeBlock(v); err == nil {
				if off2, size2, err := decodeBlock(encodeBlock(off, size)); err != nil || off2 != off || size2 != size {
					t.Fatal("block round trip")
				}
			}
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ in, want []byte }{
		{[]byte{1, 2}, []byte{1, 3}},
		{[]byte{1, 0xff}, []byte{2}},
		{[]byte{0xff, 0xff}, nil},
	} {
		if got := prefixEnd(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("prefixEnd(%x) = %x, want %x", tc.in, got, tc.want)
		}
	}
}
