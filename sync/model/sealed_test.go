package model

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/transport/wire"
)

const testFolderID = "abcdefghijklmnopqrstuvwxyz234567"

func sampleRecord(t testing.TB, data []byte) *wire.FileInfo {
	t.Helper()
	var blocks []*wire.BlockInfo
	for off := 0; off < len(data); off += 1000 {
		end := min(off+1000, len(data))
		h := sha256.Sum256(data[off:end])
		blocks = append(blocks, &wire.BlockInfo{Offset: int64(off), Size: int32(end - off), Hash: h[:]})
	}
	return &wire.FileInfo{
		Name: "dir/report.txt", Size: int64(len(data)), Permissions: 0o640, ModifiedS: 1700000000, ModifiedBy: 7,
		Version: &wire.Vector{Counters: []*wire.Counter{{Id: 7, Value: 3}}}, Sequence: 12,
		Blocks: blocks, BlockSize: 128 << 10, BlocksHash: wire.BlocksHash(blocks),
	}
}

func readFrom(data []byte) func(b *wire.BlockInfo) ([]byte, error) {
	return func(b *wire.BlockInfo) ([]byte, error) { return data[b.Offset : b.Offset+int64(b.Size)], nil }
}

func TestTwinRoundTrip(t *testing.T) {
	rw, err := folderkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ro, _ := rw.Downgrade(folderkey.ReadOnly)
	enc, _ := rw.Downgrade(folderkey.Encrypted)
	data := bytes.Repeat([]byte("secret payload "), 300)
	rec := sampleRecord(t, data)
	sig, twin, err := makeTwin(rw, testFolderID, rec, readFrom(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := wire.ValidateFileInfo(twin); err != nil {
		t.Fatalf("twin does not validate: %v", err)
	}
	if !enc.Verify(wire.SigningBytes(testFolderID, twin), twin.Signature) {
		t.Fatal("an encrypted peer cannot verify the twin")
	}
	if bytes.Contains(twin.Meta, []byte("report")) || bytes.Contains([]byte(twin.Name), []byte("report")) {
		t.Fatal("twin shows the plaintext name")
	}
	_, again, _ := makeTwin(rw, testFolderID, rec, readFrom(data))
	if !proto.Equal(twin, again) {
		t.Fatal("sealing is not deterministic")
	}
	twin.Sequence = 5
	p, err := openTwin(ro, testFolderID, twin)
	if err != nil {
		t.Fatalf("a reader cannot open the twin: %v", err)
	}
	if p.Name != rec.Name || p.Size != rec.Size || !bytes.Equal(p.BlocksHash, rec.BlocksHash) || !bytes.Equal(p.Signature, sig) || p.Sequence != 5 {
		t.Fatalf("opened %+v", p)
	}
	// Each sealed block opens to its plaintext.
	for i, tb := range twin.Blocks {
		b := rec.Blocks[i]
		sealed := ro.SealBlock(data[b.Offset : b.Offset+int64(b.Size)])
		if h := sha256.Sum256(sealed); !bytes.Equal(h[:], tb.Hash) || int(tb.Size) != len(sealed) {
			t.Fatalf("block %d: twin hash does not match the sealed block", i)
		}
	}
	// Tampering with what the signature covers is caught by openTwin's
	// checks even if the signature were not checked first.
	bad := proto.Clone(twin).(*wire.FileInfo)
	bad.Version = &wire.Vector{Counters: []*wire.Counter{{Id: 7, Value: 4}}}
	if _, err := openTwin(ro, testFolderID, bad); err == nil {
		t.Fatal("a twin with another version opened")
	}
	if _, err := openTwin(ro, "another-folder-id-xxxxxxxxxxxxxx", twin); err == nil {
		t.Fatal("a twin opened in another folder")
	}
	other, _ := folderkey.Generate()
	if _, err := openTwin(other, testFolderID, twin); err == nil {
		t.Fatal("another folder's key opened the twin")
	}
}

func FuzzOpenTwin(f *testing.F) {
	rw, err := folderkey.Generate()
	if err != nil {
		f.Fatal(err)
	}
	ro, _ := rw.Downgrade(folderkey.ReadOnly)
	data := []byte("fuzz payload")
	_, twin, err := makeTwin(rw, testFolderID, sampleRecord(f, data), readFrom(data))
	if err != nil {
		f.Fatal(err)
	}
	seed, _ := proto.Marshal(twin)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fi wire.FileInfo
		if proto.Unmarshal(b, &fi) != nil || wire.ValidateFileInfo(&fi) != nil {
			return
		}
		p, err := openTwin(ro, testFolderID, &fi)
		if err == nil && (p.Sealed == nil || wire.ValidateFileInfo(p) != nil) {
			t.Fatalf("opened an invalid record: %+v", p)
		}
	})
}

// BenchmarkMakeTwin seals a 64 MiB file in 128 KiB blocks (the writer's
// cost per changed byte for encrypted peers) and reports how much a twin
// adds to the record.
func BenchmarkMakeTwin(b *testing.B) {
	rw, err := folderkey.Generate()
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var blocks []*wire.BlockInfo
	for off := 0; off < len(data); off += 128 << 10 {
		h := sha256.Sum256(data[off : off+128<<10])
		blocks = append(blocks, &wire.BlockInfo{Offset: int64(off), Size: 128 << 10, Hash: h[:]})
	}
	rec := sampleRecord(b, nil)
	rec.Size, rec.Blocks, rec.BlocksHash = int64(len(data)), blocks, wire.BlocksHash(blocks)
	b.SetBytes(int64(len(data)))
	var twin *wire.FileInfo
	for b.Loop() {
		if _, twin, err = makeTwin(rw, testFolderID, rec, readFrom(data)); err != nil {
			b.Fatal(err)
		}
	}
	with := cloneInfo(rec)
	with.Sealed = twin
	b.ReportMetric(float64(proto.Size(with))/float64(proto.Size(rec)), "record-growth-x")
}
