package index

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/transport/wire"
)

// Value encodings. Each stored value starts with a format byte so the layout
// can change later without a guess.
const (
	fmtLocal  = 1 // format, inode uvarint, FileInfo protobuf
	fmtRemote = 1 // format, FileInfo protobuf
	fmtGlobal = 1 // format, flags, type uvarint, size uvarint, n uvarint, n × (device uvarint, flags)
	fmtMeta   = 1 // format, index ID u64, sequence u64, 8 counters as varints
	fmtPeer   = 1 // format, index ID u64, max sequence u64
)

func corrupt(what string, detail any) error {
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, detail)
}

var marshalOpts = proto.MarshalOptions{Deterministic: true}

func encodeLocal(lf LocalFile) ([]byte, error) {
	b := []byte{fmtLocal}
	b = binary.AppendUvarint(b, lf.Inode)
	return marshalOpts.MarshalAppend(b, lf.Info)
}

// decodeLocal decodes the local record stored under name.
func decodeLocal(name string, v []byte) (LocalFile, error) {
	if len(v) < 1 || v[0] != fmtLocal {
		return LocalFile{}, corrupt(fmt.Sprintf("local record %q", name), "unknown format")
	}
	inode, n := binary.Uvarint(v[1:])
	if n <= 0 {
		return LocalFile{}, corrupt(fmt.Sprintf("local record %q", name), "bad inode")
	}
	fi, err := decodeInfo(name, v[1+n:])
	if err != nil {
		return LocalFile{}, corrupt(fmt.Sprintf("local record %q", name), err)
	}
	return LocalFile{Info: fi, Inode: inode}, nil
}

func encodeRemote(fi *wire.FileInfo) ([]byte, error) {
	return marshalOpts.MarshalAppend([]byte{fmtRemote}, fi)
}

func decodeRemote(name string, v []byte) (*wire.FileInfo, error) {
	if len(v) < 1 || v[0] != fmtRemote {
		return nil, corrupt(fmt.Sprintf("remote record %q", name), "unknown format")
	}
	fi, err := decodeInfo(name, v[1:])
	if err != nil {
		return nil, corrupt(fmt.Sprintf("remote record %q", name), err)
	}
	return fi, nil
}

// decodeInfo unmarshals a FileInfo and checks what the index relies on: the
// name matches the key, and the record would pass validation again.
func decodeInfo(name string, b []byte) (*wire.FileInfo, error) {
	fi := &wire.FileInfo{}
	if err := proto.Unmarshal(b, fi); err != nil {
		return nil, err
	}
	if fi.Name != name {
		return nil, fmt.Errorf("holds name %q", fi.Name)
	}
	if err := validateInfo(fi); err != nil {
		return nil, err
	}
	return fi, nil
}

// gEntry is the global entry of a name: every device that has a record of
// it, the winner first, and a summary of the winner so counters and Need can
// be maintained without loading it.
type gEntry struct {
	winnerDeleted bool
	needed        bool // this device lacks the winner (a 'Q' key exists)
	winnerType    wire.FileType
	winnerSize    int64
	devs          []gDev // winner first, then by device number
}

type gDev struct {
	dev   uint32
	equal bool // its version equals the winner's: it can serve the blocks
}

const (
	gDeleted = 1 << 0
	gNeeded  = 1 << 1
	gEqual   = 1 << 0
)

func encodeGlobal(g *gEntry) []byte {
	var flags byte
	if g.winnerDeleted {
		flags |= gDeleted
	}
	if g.needed {
		flags |= gNeeded
	}
	b := make([]byte, 0, 8+3*len(g.devs))
	b = append(b, fmtGlobal, flags)
	b = binary.AppendUvarint(b, uint64(g.winnerType))
	b = binary.AppendUvarint(b, uint64(g.winnerSize))
	b = binary.AppendUvarint(b, uint64(len(g.devs)))
	for _, d := range g.devs {
		b = binary.AppendUvarint(b, uint64(d.dev))
		var f byte
		if d.equal {
			f |= gEqual
		}
		b = append(b, f)
	}
	return b
}

func decodeGlobal(name string, v []byte) (*gEntry, error) {
	fail := func(detail string) (*gEntry, error) {
		return nil, corrupt(fmt.Sprintf("global entry %q", name), detail)
	}
	if len(v) < 2 || v[0] != fmtGlobal {
		return fail("unknown format")
	}
	if v[1]&^(gDeleted|gNeeded) != 0 {
		return fail("unknown flags")
	}
	g := &gEntry{winnerDeleted: v[1]&gDeleted != 0, needed: v[1]&gNeeded != 0}
	r := v[2:]
	next := func() (uint64, bool) {
		x, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return x, true
	}
	typ, ok1 := next()
	size, ok2 := next()
	n, ok3 := next()
	if !ok1 || !ok2 || !ok3 || typ > uint64(wire.FileType_FILE_TYPE_SYMLINK) || size > math.MaxInt64 {
		return fail("bad header")
	}
	// Each device takes at least two bytes, which bounds the allocation.
	if n == 0 || n > uint64(len(r)/2) {
		return fail("bad device count")
	}
	g.winnerType, g.winnerSize = wire.FileType(typ), int64(size)
	g.devs = make([]gDev, 0, n)
	seen := make(map[uint32]bool, n)
	for range n {
		d, ok := next()
		if !ok || d > 0xffffffff || len(r) < 1 || r[0]&^gEqual != 0 || seen[uint32(d)] {
			return fail("bad device")
		}
		seen[uint32(d)] = true
		g.devs = append(g.devs, gDev{dev: uint32(d), equal: r[0]&gEqual != 0})
		r = r[1:]
	}
	if len(r) != 0 || !g.devs[0].equal {
		return fail("bad device list")
	}
	return g, nil
}

// folderMeta is the per-folder state kept under 'I'.
type folderMeta struct {
	indexID uint64
	seq     int64
	counts  Counts
}

func (c *Counts) fields() []*int64 {
	return []*int64{&c.LocalFiles, &c.LocalDirs, &c.LocalBytes,
		&c.GlobalFiles, &c.GlobalDirs, &c.GlobalBytes, &c.NeedFiles, &c.NeedBytes}
}

func encodeMeta(m *folderMeta) []byte {
	b := make([]byte, 0, 17+8*4)
	b = append(b, fmtMeta)
	b = binary.BigEndian.AppendUint64(b, m.indexID)
	b = binary.BigEndian.AppendUint64(b, uint64(m.seq))
	for _, p := range m.counts.fields() {
		b = binary.AppendVarint(b, *p)
	}
	return b
}

func decodeMeta(v []byte) (folderMeta, error) {
	var m folderMeta
	if len(v) < 17 || v[0] != fmtMeta {
		return m, corrupt("folder meta", "unknown format")
	}
	m.indexID = binary.BigEndian.Uint64(v[1:])
	m.seq = int64(binary.BigEndian.Uint64(v[9:]))
	r := v[17:]
	for _, p := range m.counts.fields() {
		x, n := binary.Varint(r)
		if n <= 0 {
			return m, corrupt("folder meta", "bad counter")
		}
		*p, r = x, r[n:]
	}
	if len(r) != 0 || m.indexID == 0 || m.seq < 0 {
		return m, corrupt("folder meta", "bad contents")
	}
	return m, nil
}

func encodePeer(indexID uint64, maxSeq int64) []byte {
	b := []byte{fmtPeer}
	b = binary.BigEndian.AppendUint64(b, indexID)
	return binary.BigEndian.AppendUint64(b, uint64(maxSeq))
}

func decodePeer(v []byte) (indexID uint64, maxSeq int64, err error) {
	if len(v) != 17 || v[0] != fmtPeer {
		return 0, 0, corrupt("remote state", "bad length or format")
	}
	return binary.BigEndian.Uint64(v[1:]), int64(binary.BigEndian.Uint64(v[9:])), nil
}

func encodeBlock(offset int64, size int32) []byte {
	b := make([]byte, 0, 12)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	return binary.BigEndian.AppendUint32(b, uint32(size))
}

func decodeBlock(v []byte) (offset int64, size int32, err error) {
	if len(v) != 12 {
		return 0, 0, corrupt("block location", "bad length")
	}
	offset, size = int64(binary.BigEndian.Uint64(v)), int32(binary.BigEndian.Uint32(v[8:]))
	if offset < 0 || size < 0 {
		return 0, 0, corrupt("block location", "negative")
	}
	return offset, size, nil
}
