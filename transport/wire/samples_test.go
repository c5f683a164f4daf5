package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// testDevice returns raw device-ID bytes shaped like a libp2p Ed25519 peer ID.
func testDevice(n byte) []byte {
	id := []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}
	return append(id, bytes.Repeat([]byte{n}, 32)...)
}

func testVector(values ...uint64) *Vector {
	v := &Vector{}
	for i, val := range values {
		v.Counters = append(v.Counters, &Counter{Id: 0x1000_0000_0000_0000 * uint64(i+1), Value: val})
	}
	return v
}

// testFile returns a valid, non-deleted file record of the given size, cut
// into blocks of at most 128 KiB with the hashes of deterministic content.
func testFile(name string, size int64) *FileInfo {
	f := &FileInfo{
		Name:        name,
		Type:        FileType_FILE_TYPE_FILE,
		Size:        size,
		Permissions: 0o644,
		ModifiedS:   1_700_000_000,
		ModifiedNs:  123_456_789,
		ModifiedBy:  0x1000_0000_0000_0000,
		Version:     testVector(3, 1),
		Sequence:    1,
	}
	for off := int64(0); off < size; {
		n := min(size-off, 128<<10)
		var seed [8]byte
		binary.BigEndian.PutUint64(seed[:], uint64(off))
		h := sha256.Sum256(append([]byte(name), seed[:]...))
		f.Blocks = append(f.Blocks, &BlockInfo{Offset: off, Size: int32(n), Hash: h[:]})
		off += n
	}
	f.BlockSize = 64 << 10
	f.BlocksHash = BlocksHash(f.Blocks)
	return f
}

func testDir(name string) *FileInfo {
	return &FileInfo{Name: name, Type: FileType_FILE_TYPE_DIRECTORY, Permissions: 0o755,
		ModifiedS: 1_700_000_001, ModifiedBy: 7, Version: testVector(1), Sequence: 1}
}

func testSymlink(name, target string) *FileInfo {
	return &FileInfo{Name: name, Type: FileType_FILE_TYPE_SYMLINK, SymlinkTarget: target,
		ModifiedS: 1_700_000_002, ModifiedBy: 7, Version: testVector(5, 2), Sequence: 1}
}

func testDeleted(name string) *FileInfo {
	return &FileInfo{Name: name, Type: FileType_FILE_TYPE_FILE, Deleted: true,
		ModifiedS: 1_700_000_003, ModifiedBy: 9, Version: testVector(4, 4, 4), Sequence: 1}
}

func testIndex(files ...*FileInfo) *Index {
	ix := &Index{Folder: "photos", IndexId: 0xdeadbeefcafe, ReplaceAll: true, Files: files}
	for i, f := range files {
		f.Sequence = int64(10 + 2*i)
		ix.LastSequence = f.Sequence
	}
	ix.LastSequence += 5
	return ix
}

// sampleMessages returns one or more valid messages of every payload type,
// keyed by a name for subtests and seed corpora.
// testTwin is a file record with a sealed twin attached, and the twin as an
// encrypted peer gets it.
func testTwin() (withTwin, twin *FileInfo) {
	withTwin = testFile("sealed/file.bin", 200<<10)
	twin = testFile("ab/"+strings.Repeat("c", 70), 0)
	twin.Sequence, twin.Meta = 0, bytes.Repeat([]byte{9}, 300)
	for i, b := range withTwin.Blocks {
		h := sha256.Sum256([]byte{byte(i)})
		size := int32((4+int(b.Size)+4095)/4096*4096 + 40)
		twin.Blocks = append(twin.Blocks, &BlockInfo{Offset: twin.Size, Size: size, Hash: h[:]})
		twin.Size += int64(size)
	}
	twin.BlocksHash = BlocksHash(twin.Blocks)
	twin.Signature = bytes.Repeat([]byte{8}, SignatureSize)
	withTwin.Sealed = twin
	sent := proto.Clone(twin).(*FileInfo)
	sent.Sequence = 4
	return withTwin, sent
}

func sampleMessages() map[string]*Message {
	hash := sha256.Sum256([]byte("block"))
	withTwin, twin := testTwin()
	return map[string]*Message{
		"indexWithTwin": {Payload: &Message_Index{Index: testIndex(withTwin)}},
		"indexOfTwins":  {Payload: &Message_Index{Index: testIndex(twin)}},
		"hello": {Payload: &Message_Hello{Hello: &Hello{
			ProtocolVersion: ProtocolVersion, DeviceName: "Laptop über 日本", ClientName: "shoal", ClientVersion: "v0.1.0",
			Nonce: bytes.Repeat([]byte{7}, NonceSize),
		}}},
		"clusterConfig": {Payload: &Message_ClusterConfig{ClusterConfig: &ClusterConfig{Folders: []*Folder{
			{Id: "photos", Label: "Photos", Devices: []*FolderDevice{
				{Id: testDevice(1), IndexId: 0xdeadbeefcafe, MaxSequence: 42},
				{Id: testDevice(2)},
			}, Proofs: []*Proof{
				{Access: Access_ACCESS_READ_ONLY, Mac: bytes.Repeat([]byte{1}, ProofSize)},
				{Access: Access_ACCESS_ENCRYPTED, Mac: bytes.Repeat([]byte{2}, ProofSize)},
			}},
			{Id: "work.docs-2024_a", Devices: []*FolderDevice{{Id: testDevice(1), IndexId: 1, MaxSequence: 1}}},
		}}}},
		"index": {Payload: &Message_Index{Index: testIndex(
			testDir("docs"),
			testFile("docs/report über 日本.txt", 300<<10+17),
			testFile("docs/empty", 0),
			testSymlink("docs/link", "../elsewhere/target"),
			testDeleted("old.bin"),
		)}},
		"indexDelta": {Payload: &Message_Index{Index: &Index{Folder: "photos", IndexId: 7, LastSequence: 99}}},
		"request": {Payload: &Message_Request{Request: &Request{
			Id: 17, Folder: "photos", Hash: hash[:], Size: 128 << 10, Name: "docs/report.txt", Offset: 128 << 10,
		}}},
		"response": {Payload: &Message_Response{Response: &Response{Id: 17, Data: []byte("block")}}},
		"responseError": {Payload: &Message_Response{Response: &Response{
			Id: 18, Code: ErrorCode_ERROR_CODE_NO_SUCH_BLOCK,
		}}},
		"close":        {Payload: &Message_Close{Close: &Close{Reason: "shutting down"}}},
		"ping":         {Payload: &Message_Ping{Ping: &Ping{}}},
		"inviteRedeem": {Payload: &Message_InviteRedeem{InviteRedeem: &InviteRedeem{Invite: bytes.Repeat([]byte{9}, 200)}}},
		"inviteGranted": {Payload: &Message_InviteResult{InviteResult: &InviteResult{
			InviteId: bytes.Repeat([]byte{3}, 16), Status: InviteStatus_INVITE_STATUS_GRANTED,
			Folder: "6jqaw2e5n6evzcpi3uidsq5tv27jx24y", Label: "Photos", Key: "shoal-ro-abc",
		}}},
		"rekey": {Payload: &Message_Rekey{Rekey: &Rekey{
			Folder: "6jqaw2e5n6evzcpi3uidsq5tv27jx24y", Key: "shoal-ro-abc",
			Removals: []*Removal{
				{Epoch: 1, Devices: [][]byte{testDevice(3)}, Writer: bytes.Repeat([]byte{4}, 32), Time: 1700000000, Signature: bytes.Repeat([]byte{5}, SignatureSize)},
				{Epoch: 2, Devices: [][]byte{testDevice(4), testDevice(5)}, Writer: bytes.Repeat([]byte{6}, 32), Time: 1700000100, Signature: bytes.Repeat([]byte{7}, SignatureSize)},
			},
		}}},
		"invitePending": {Payload: &Message_InviteResult{InviteResult: &InviteResult{
			InviteId: bytes.Repeat([]byte{3}, 16), Status: InviteStatus_INVITE_STATUS_PENDING, Reason: "waiting",
		}}},
	}
}

// sortedSamples returns the sample names in a fixed order.
func sortedSamples() []string {
	names := make([]string, 0)
	for name := range sampleMessages() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSamplesAreValid(t *testing.T) {
	for name, m := range sampleMessages() {
		if err := Validate(m); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
