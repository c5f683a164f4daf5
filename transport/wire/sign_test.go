package wire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestSigningBytesCoverAuthorFields: changing any field an author sets
// changes the signed bytes; the per-device fields and the signature do not.
func TestSigningBytesCoverAuthorFields(t *testing.T) {
	base := sampleMessages()["index"].GetIndex().Files
	var file *FileInfo
	for _, f := range base {
		if f.Type == FileType_FILE_TYPE_FILE && len(f.Blocks) > 0 {
			file = f
		}
	}
	if file == nil {
		t.Fatal("no file with blocks in the samples")
	}
	want := SigningBytes("folder", file)
	same := []func(f *FileInfo){
		func(f *FileInfo) { f.Sequence++ },
		func(f *FileInfo) { f.LocalFlags = 3 },
		func(f *FileInfo) { f.Signature = bytes.Repeat([]byte{1}, SignatureSize) },
	}
	for i, mut := range same {
		f := proto.Clone(file).(*FileInfo)
		mut(f)
		if !bytes.Equal(SigningBytes("folder", f), want) {
			t.Errorf("per-device change %d altered the signed bytes", i)
		}
	}
	differ := map[string]func(f *FileInfo){
		"name":        func(f *FileInfo) { f.Name += "x" },
		"type":        func(f *FileInfo) { f.Type = FileType_FILE_TYPE_DIRECTORY },
		"size":        func(f *FileInfo) { f.Size++ },
		"permissions": func(f *FileInfo) { f.Permissions ^= 1 },
		"modified_s":  func(f *FileInfo) { f.ModifiedS++ },
		"modified_ns": func(f *FileInfo) { f.ModifiedNs++ },
		"modified_by": func(f *FileInfo) { f.ModifiedBy++ },
		"version":     func(f *FileInfo) { f.Version.Counters[0].Value++ },
		"counter id":  func(f *FileInfo) { f.Version.Counters[0].Id++ },
		"deleted":     func(f *FileInfo) { f.Deleted = !f.Deleted },
		"symlink":     func(f *FileInfo) { f.SymlinkTarget = "x" },
		"block_size":  func(f *FileInfo) { f.BlockSize *= 2 },
		"blocks_hash": func(f *FileInfo) { f.BlocksHash = bytes.Repeat([]byte{7}, HashSize) },
		"block off":   func(f *FileInfo) { f.Blocks[0].Offset++ },
		"block size":  func(f *FileInfo) { f.Blocks[0].Size++ },
		"block hash":  func(f *FileInfo) { f.Blocks[0].Hash = bytes.Repeat([]byte{8}, HashSize) },
		"no blocks":   func(f *FileInfo) { f.Blocks = nil },
	}
	for name, mut := range differ {
		f := proto.Clone(file).(*FileInfo)
		mut(f)
		if bytes.Equal(SigningBytes("folder", f), want) {
			t.Errorf("changing %s left the signed bytes unchanged", name)
		}
	}
	if bytes.Equal(SigningBytes("folder2", file), want) {
		t.Error("the folder ID is not covered")
	}
	// Length prefixes keep boundaries: moving a byte from the folder ID
	// to the name changes the bytes.
	g := proto.Clone(file).(*FileInfo)
	g.Name = "r" + g.Name
	if bytes.Equal(SigningBytes("folde", g), SigningBytes("folder", file)) && g.Name[0] == 'r' {
		t.Error("field boundaries are ambiguous")
	}
}
