package wire

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"simple", "a", true},
		{"nested", "a/b/c.txt", true},
		{"unicode", "über/日本.txt", true},
		{"spaces", "my documents/a file .txt", true},
		{"windowsReservedOnWire", "con", true},
		{"colon", "a:b", true},
		{"dotfile", ".config/x", true},
		{"dotsInside", "a..b/...", true},
		{"componentAtLimit", strings.Repeat("x", 255), true},
		{"nameAtLimit", strings.Repeat(strings.Repeat("x", 254)+"/", 16) + strings.Repeat("y", 16), true},
		{"empty", "", false},
		{"parent", "../x", false},
		{"parentOnly", "..", false},
		{"dot", ".", false},
		{"dotComponent", "a/./b", false},
		{"absolute", "/abs", false},
		{"innerParent", "a/../b", false},
		{"trailingParent", "a/..", false},
		{"trailingSlash", "a/", false},
		{"doubleSlash", "a//b", false},
		{"backslash", "a\\b", false},
		{"windowsTraversal", "..\\x", false},
		{"nul", "a\x00b", false},
		{"newline", "a\nb", false},
		{"del", "a\x7fb", false},
		{"c1Control", "a\u0085b", false},
		{"invalidUTF8", "a\xffb", false},
		{"componentTooLong", strings.Repeat("x", 256), false},
		{"nameTooLong", strings.Repeat("x/", 2048) + "y", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidName(tt.in)
			if (err == nil) != tt.valid {
				t.Fatalf("ValidName(%q) = %v, want valid %v", tt.in, err, tt.valid)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidNameErrorIsShort(t *testing.T) {
	err := ValidName("/" + strings.Repeat("x", 1<<20))
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error for a 1 MiB name is %d bytes", len(err.Error()))
	}
}

func TestValidFolderID(t *testing.T) {
	for _, id := range []string{"a", "photos", "work.docs-2024_A", strings.Repeat("x", 64)} {
		if err := ValidFolderID(id); err != nil {
			t.Errorf("ValidFolderID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "a b", "ü", strings.Repeat("x", 65), "a\x00"} {
		if err := ValidFolderID(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidFolderID(%q) = %v, want ErrInvalid", id, err)
		}
	}
}

func TestBlocksHash(t *testing.T) {
	f := testFile("x", 300<<10)
	h := sha256.New()
	for _, b := range f.Blocks {
		h.Write(b.Hash)
	}
	if got := BlocksHash(f.Blocks); string(got) != string(h.Sum(nil)) {
		t.Fatalf("BlocksHash = %x", got)
	}
	empty := sha256.Sum256(nil)
	if got := BlocksHash(nil); string(got) != string(empty[:]) {
		t.Fatalf("BlocksHash(nil) = %x, want SHA-256 of nothing", got)
	}
}

func TestValidateFileInfo(t *testing.T) {
	// Each case mutates a fresh valid record of the given kind.
	kinds := map[string]func() *FileInfo{
		"file":    func() *FileInfo { return testFile("dir/file.bin", 300<<10+5) },
		"empty":   func() *FileInfo { return testFile("dir/empty", 0) },
		"dir":     func() *FileInfo { return testDir("dir") },
		"symlink": func() *FileInfo { return testSymlink("dir/link", "target") },
		"deleted": func() *FileInfo { return testDeleted("gone") },
	}
	rehash := func(f *FileInfo) { f.BlocksHash = BlocksHash(f.Blocks) }
	tests := []struct {
		name   string
		kind   string
		mutate func(f *FileInfo)
		valid  bool
	}{
		{"file", "file", func(f *FileInfo) {}, true},
		{"emptyFile", "empty", func(f *FileInfo) {}, true},
		{"dir", "dir", func(f *FileInfo) {}, true},
		{"symlink", "symlink", func(f *FileInfo) {}, true},
		{"deleted", "deleted", func(f *FileInfo) {}, true},
		{"deletedKeepsBlocks", "file", func(f *FileInfo) { f.Deleted = true }, true},
		{"deletedSizeIgnored", "deleted", func(f *FileInfo) { f.Size = 12345; f.BlocksHash = make([]byte, 32) }, true},
		{"deletedSymlinkNoTarget", "symlink", func(f *FileInfo) { f.Deleted = true; f.SymlinkTarget = "" }, true},
		{"deletedDir", "dir", func(f *FileInfo) { f.Deleted = true }, true},
		{"maxPermissions", "file", func(f *FileInfo) { f.Permissions = 0o7777 }, true},
		{"negativeMtime", "file", func(f *FileInfo) { f.ModifiedS = -5 }, true},
		{"maxNanos", "file", func(f *FileInfo) { f.ModifiedNs = 999_999_999 }, true},
		{"blockSize4M", "file", func(f *FileInfo) { f.BlockSize = 4 << 20 }, true},
		{"emptyFileBlockSizeZero", "empty", func(f *FileInfo) { f.BlockSize = 0 }, true},
		{"maxCounters", "file", func(f *FileInfo) {
			f.Version = &Vector{}
			for i := range MaxVersionCounters {
				f.Version.Counters = append(f.Version.Counters, &Counter{Id: uint64(i), Value: 1})
			}
		}, true},
		{"maxBlock", "empty", func(f *FileInfo) {
			f.Blocks = []*BlockInfo{{Size: MaxBlockSize, Hash: make([]byte, 32)}}
			f.Size = MaxBlockSize
			rehash(f)
		}, true},

		{"nil", "file", nil, false},
		{"badName", "file", func(f *FileInfo) { f.Name = "../etc/passwd" }, false},
		{"unknownType", "dir", func(f *FileInfo) { f.Type = 3 }, false},
		{"negativeType", "dir", func(f *FileInfo) { f.Type = -1 }, false},
		{"negativeSize", "deleted", func(f *FileInfo) { f.Size = -1 }, false},
		{"hugeSize", "deleted", func(f *FileInfo) { f.Size = MaxFileSize + 1 }, false},
		{"permissions", "file", func(f *FileInfo) { f.Permissions = 0o10000 }, false},
		{"negativeNanos", "file", func(f *FileInfo) { f.ModifiedNs = -1 }, false},
		{"nanosOverflow", "file", func(f *FileInfo) { f.ModifiedNs = 1e9 }, false},
		{"noVersion", "file", func(f *FileInfo) { f.Version = nil }, false},
		{"emptyVersion", "deleted", func(f *FileInfo) { f.Version = &Vector{} }, false},
		{"zeroCounter", "file", func(f *FileInfo) { f.Version.Counters[0].Value = 0 }, false},
		{"nilCounter", "file", func(f *FileInfo) { f.Version.Counters[1] = nil }, false},
		{"unsortedCounters", "file", func(f *FileInfo) {
			c := f.Version.Counters
			c[0], c[1] = c[1], c[0]
		}, false},
		{"duplicateCounter", "file", func(f *FileInfo) { f.Version.Counters[1].Id = f.Version.Counters[0].Id }, false},
		{"tooManyCounters", "file", func(f *FileInfo) {
			f.Version = &Vector{}
			for i := range MaxVersionCounters + 1 {
				f.Version.Counters = append(f.Version.Counters, &Counter{Id: uint64(i), Value: 1})
			}
		}, false},
		{"blockGap", "file", func(f *FileInfo) { f.Blocks[1].Offset++ }, false},
		{"blockNotFromZero", "file", func(f *FileInfo) { f.Blocks[0].Offset = 1 }, false},
		{"zeroBlock", "file", func(f *FileInfo) {
			f.Blocks = append(f.Blocks, &BlockInfo{Offset: f.Size, Hash: make([]byte, 32)})
			rehash(f)
		}, false},
		{"blockTooBig", "empty", func(f *FileInfo) {
			f.Blocks = []*BlockInfo{{Size: MaxBlockSize + 1, Hash: make([]byte, 32)}}
			f.Size = MaxBlockSize + 1
			rehash(f)
		}, false},
		{"nilBlock", "file", func(f *FileInfo) { f.Blocks[1] = nil }, false},
		{"shortBlockHash", "file", func(f *FileInfo) { f.Blocks[0].Hash = f.Blocks[0].Hash[:31]; rehash(f) }, false},
		{"sizeAboveBlocks", "file", func(f *FileInfo) { f.Size++ }, false},
		{"sizeBelowBlocks", "file", func(f *FileInfo) { f.Size-- }, false},
		{"emptyFileWithSize", "empty", func(f *FileInfo) { f.Size = 1 }, false},
		{"blocksHashMismatch", "file", func(f *FileInfo) { f.BlocksHash[0] ^= 1 }, false},
		{"blocksHashMissing", "file", func(f *FileInfo) { f.BlocksHash = nil }, false},
		{"blocksHashMissingEmptyFile", "empty", func(f *FileInfo) { f.BlocksHash = nil }, false},
		{"blocksHashShort", "deleted", func(f *FileInfo) { f.BlocksHash = make([]byte, 31) }, false},
		{"blockHashChangedWithoutRehash", "file", func(f *FileInfo) { f.Blocks[2].Hash[5] ^= 1 }, false},
		{"deletedWithBadBlocks", "file", func(f *FileInfo) { f.Deleted = true; f.Size++ }, false},
		{"blockSizeZeroWithBlocks", "file", func(f *FileInfo) { f.BlockSize = 0 }, false},
		{"blockSizeNotPowerOfTwo", "file", func(f *FileInfo) { f.BlockSize = 96 << 10 }, false},
		{"blockSizeTooSmall", "file", func(f *FileInfo) { f.BlockSize = 32 << 10 }, false},
		{"blockSizeTooBig", "file", func(f *FileInfo) { f.BlockSize = 8 << 20 }, false},
		{"fileWithTarget", "file", func(f *FileInfo) { f.SymlinkTarget = "x" }, false},
		{"dirWithSize", "dir", func(f *FileInfo) { f.Size = 1 }, false},
		{"dirWithBlocks", "dir", func(f *FileInfo) {
			f.Blocks = []*BlockInfo{{Size: 1, Hash: make([]byte, 32)}}
			f.Size = 1
		}, false},
		{"dirWithBlocksHash", "dir", func(f *FileInfo) { f.BlocksHash = BlocksHash(nil) }, false},
		{"dirWithBlockSize", "dir", func(f *FileInfo) { f.BlockSize = 64 << 10 }, false},
		{"deletedDirWithSize", "dir", func(f *FileInfo) { f.Deleted = true; f.Size = 3 }, false},
		{"symlinkNoTarget", "symlink", func(f *FileInfo) { f.SymlinkTarget = "" }, false},
		{"symlinkNul", "symlink", func(f *FileInfo) { f.SymlinkTarget = "a\x00b" }, false},
		{"symlinkTargetTooLong", "symlink", func(f *FileInfo) { f.SymlinkTarget = strings.Repeat("a", 4097) }, false},
		{"symlinkWithSize", "symlink", func(f *FileInfo) { f.Size = 6 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := kinds[tt.kind]()
			if tt.mutate == nil {
				f = nil
			} else {
				tt.mutate(f)
			}
			err := ValidateFileInfo(f)
			if (err == nil) != tt.valid {
				t.Fatalf("ValidateFileInfo = %v, want valid %v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	type mutation struct {
		name   string
		sample string
		mutate func(m *Message)
	}
	index := func(m *Message) *Index { return m.GetIndex() }
	cc := func(m *Message) *ClusterConfig { return m.GetClusterConfig() }
	req := func(m *Message) *Request { return m.GetRequest() }
	bad := []mutation{
		{"noPayload", "ping", func(m *Message) { m.Payload = nil }},
		{"nilPing", "ping", func(m *Message) { m.Payload = &Message_Ping{} }},
		{"nilHello", "hello", func(m *Message) { m.Payload = &Message_Hello{} }},
		{"deviceNameTooLong", "hello", func(m *Message) { m.GetHello().DeviceName = strings.Repeat("x", 65) }},
		{"deviceNameUTF8", "hello", func(m *Message) { m.GetHello().DeviceName = "\xff" }},
		{"deviceNameControl", "hello", func(m *Message) { m.GetHello().DeviceName = "a\x1b[31m" }},
		{"clientVersionTooLong", "hello", func(m *Message) { m.GetHello().ClientVersion = strings.Repeat("1", 65) }},
		{"shortNonce", "hello", func(m *Message) { m.GetHello().Nonce = m.GetHello().Nonce[:16] }},
		{"nilClusterConfig", "clusterConfig", func(m *Message) { m.Payload = &Message_ClusterConfig{} }},
		{"tooManyFolders", "clusterConfig", func(m *Message) {
			c := cc(m)
			for range MaxFolders {
				c.Folders = append(c.Folders, c.Folders[0])
			}
		}},
		{"duplicateFolder", "clusterConfig", func(m *Message) { cc(m).Folders[1].Id = cc(m).Folders[0].Id }},
		{"proofUnknownAccess", "clusterConfig", func(m *Message) { cc(m).Folders[0].Proofs[0].Access = 7 }},
		{"proofNoAccess", "clusterConfig", func(m *Message) { cc(m).Folders[0].Proofs[0].Access = Access_ACCESS_NONE }},
		{"proofShortMac", "clusterConfig", func(m *Message) { cc(m).Folders[0].Proofs[0].Mac = []byte{1} }},
		{"proofTwice", "clusterConfig", func(m *Message) { cc(m).Folders[0].Proofs[1].Access = cc(m).Folders[0].Proofs[0].Access }},
		{"nilProof", "clusterConfig", func(m *Message) { cc(m).Folders[0].Proofs[1] = nil }},
		{"signatureSize", "index", func(m *Message) { index(m).Files[0].Signature = []byte{1, 2, 3} }},
		{"badFolderID", "clusterConfig", func(m *Message) { cc(m).Folders[0].Id = "../x" }},
		{"nilFolder", "clusterConfig", func(m *Message) { cc(m).Folders[0] = nil }},
		{"labelTooLong", "clusterConfig", func(m *Message) { cc(m).Folders[0].Label = strings.Repeat("x", 257) }},
		{"emptyDeviceID", "clusterConfig", func(m *Message) { cc(m).Folders[0].Devices[0].Id = nil }},
		{"deviceIDTooLong", "clusterConfig", func(m *Message) { cc(m).Folders[0].Devices[0].Id = make([]byte, 65) }},
		{"duplicateDevice", "clusterConfig", func(m *Message) {
			cc(m).Folders[0].Devices[1].Id = cc(m).Folders[0].Devices[0].Id
		}},
		{"nilDevice", "clusterConfig", func(m *Message) { cc(m).Folders[0].Devices[1] = nil }},
		{"negativeMaxSequence", "clusterConfig", func(m *Message) { cc(m).Folders[0].Devices[0].MaxSequence = -1 }},
		{"nilIndex", "index", func(m *Message) { m.Payload = &Message_Index{} }},
		{"indexBadFolder", "index", func(m *Message) { index(m).Folder = "" }},
		{"indexZeroID", "index", func(m *Message) { index(m).IndexId = 0 }},
		{"indexBadFile", "index", func(m *Message) { index(m).Files[1].Size++ }},
		{"indexNilFile", "index", func(m *Message) { index(m).Files[1] = nil }},
		{"indexTooManyFiles", "index", func(m *Message) {
			ix := index(m)
			for len(ix.Files) <= MaxIndexFiles {
				ix.Files = append(ix.Files, ix.Files[0])
			}
		}},
		{"indexSequenceZero", "index", func(m *Message) { index(m).Files[0].Sequence = 0 }},
		{"indexSequenceRepeated", "index", func(m *Message) { index(m).Files[1].Sequence = index(m).Files[0].Sequence }},
		{"indexSequenceDescending", "index", func(m *Message) { index(m).Files[1].Sequence = 1 }},
		{"indexLastSequenceLow", "index", func(m *Message) { index(m).LastSequence = index(m).Files[4].Sequence - 1 }},
		{"indexLastSequenceNegative", "indexDelta", func(m *Message) { index(m).LastSequence = -1 }},
		{"nilRequest", "request", func(m *Message) { m.Payload = &Message_Request{} }},
		{"requestShortHash", "request", func(m *Message) { req(m).Hash = req(m).Hash[:31] }},
		{"requestNoHash", "request", func(m *Message) { req(m).Hash = nil }},
		{"requestZeroSize", "request", func(m *Message) { req(m).Size = 0 }},
		{"requestNegativeSize", "request", func(m *Message) { req(m).Size = -1 }},
		{"twinWithTwin", "indexWithTwin", func(m *Message) { f := m.GetIndex().Files[0]; f.Sealed.Sealed = proto.Clone(f.Sealed).(*FileInfo) }},
		{"twinWithoutMeta", "indexWithTwin", func(m *Message) { m.GetIndex().Files[0].Sealed.Meta = nil }},
		{"twinNotAFile", "indexWithTwin", func(m *Message) { m.GetIndex().Files[0].Sealed.Type = FileType_FILE_TYPE_DIRECTORY }},
		{"recordWithMetaAndTwin", "indexWithTwin", func(m *Message) { m.GetIndex().Files[0].Meta = []byte{1} }},
		{"metaTooBig", "indexOfTwins", func(m *Message) { m.GetIndex().Files[0].Meta = make([]byte, MaxMetaSize+1) }},
		{"metaOnDirectory", "index", func(m *Message) { m.GetIndex().Files[0].Meta = []byte{1} }},
		{"requestSizeTooBig", "request", func(m *Message) { req(m).Size = MaxSealedBlockSize + 1 }},
		{"requestNoFolder", "request", func(m *Message) { req(m).Folder = "" }},
		{"requestFolderTooLong", "request", func(m *Message) { req(m).Folder = strings.Repeat("f", 65) }},
		{"requestBadName", "request", func(m *Message) { req(m).Name = "/etc/passwd" }},
		{"requestNegativeOffset", "request", func(m *Message) { req(m).Offset = -1 }},
		{"nilResponse", "response", func(m *Message) { m.Payload = &Message_Response{} }},
		{"responseNoData", "response", func(m *Message) { m.GetResponse().Data = nil }},
		{"responseTooMuchData", "response", func(m *Message) { m.GetResponse().Data = make([]byte, MaxSealedBlockSize+1) }},
		{"responseErrorWithData", "responseError", func(m *Message) { m.GetResponse().Data = []byte{1} }},
		{"nilRedeem", "inviteRedeem", func(m *Message) { m.Payload = &Message_InviteRedeem{} }},
		{"emptyRedeem", "inviteRedeem", func(m *Message) { m.GetInviteRedeem().Invite = nil }},
		{"hugeRedeem", "inviteRedeem", func(m *Message) { m.GetInviteRedeem().Invite = make([]byte, MaxInviteLen+1) }},
		{"nilInviteResult", "inviteGranted", func(m *Message) { m.Payload = &Message_InviteResult{} }},
		{"inviteIDSize", "inviteGranted", func(m *Message) { m.GetInviteResult().InviteId = []byte{1} }},
		{"inviteNoStatus", "inviteGranted", func(m *Message) { m.GetInviteResult().Status = InviteStatus_INVITE_STATUS_NONE }},
		{"inviteUnknownStatus", "inviteGranted", func(m *Message) { m.GetInviteResult().Status = 42 }},
		{"grantedWithoutKey", "inviteGranted", func(m *Message) { m.GetInviteResult().Key = "" }},
		{"grantedBadFolder", "inviteGranted", func(m *Message) { m.GetInviteResult().Folder = "../x" }},
		{"pendingWithKey", "invitePending", func(m *Message) { m.GetInviteResult().Key = "shoal-rw-x" }},
		{"keyControlChars", "inviteGranted", func(m *Message) { m.GetInviteResult().Key = "a\x1b[2J" }},
		{"nilRekey", "rekey", func(m *Message) { m.Payload = &Message_Rekey{} }},
		{"rekeyBadFolder", "rekey", func(m *Message) { m.GetRekey().Folder = "a/b" }},
		{"rekeyNoKey", "rekey", func(m *Message) { m.GetRekey().Key = "" }},
		{"rekeyNoRemovals", "rekey", func(m *Message) { m.GetRekey().Removals = nil }},
		{"rekeyEpochGap", "rekey", func(m *Message) { m.GetRekey().Removals[1].Epoch = 3 }},
		{"rekeyNilRemoval", "rekey", func(m *Message) { m.GetRekey().Removals[0] = nil }},
		{"rekeyNoDevices", "rekey", func(m *Message) { m.GetRekey().Removals[0].Devices = nil }},
		{"rekeyWriterSize", "rekey", func(m *Message) { m.GetRekey().Removals[0].Writer = []byte{1} }},
		{"rekeySignatureSize", "rekey", func(m *Message) { m.GetRekey().Removals[0].Signature = []byte{1} }},
		{"rekeyEmptyDevice", "rekey", func(m *Message) { m.GetRekey().Removals[0].Devices[0] = nil }},
		{"nilClose", "close", func(m *Message) { m.Payload = &Message_Close{} }},
		{"closeReasonTooLong", "close", func(m *Message) { m.GetClose().Reason = strings.Repeat("x", 1025) }},
		{"closeReasonUTF8", "close", func(m *Message) { m.GetClose().Reason = "\xc3" }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			m := proto.Clone(sampleMessages()[tt.sample]).(*Message)
			tt.mutate(m)
			if err := Validate(m); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
		})
	}

	good := []mutation{
		{"emptyHello", "hello", func(m *Message) { m.GetHello().DeviceName = "" }},
		{"otherProtocolVersion", "hello", func(m *Message) { m.GetHello().ProtocolVersion = 99 }},
		{"emptyClusterConfig", "clusterConfig", func(m *Message) { cc(m).Folders = nil }},
		{"folderWithoutDevices", "clusterConfig", func(m *Message) { cc(m).Folders[0].Devices = nil }},
		{"folderWithoutProofs", "clusterConfig", func(m *Message) { cc(m).Folders[0].Proofs = nil }},
		{"signedRecord", "index", func(m *Message) { index(m).Files[0].Signature = make([]byte, SignatureSize) }},
		{"requestWithoutHints", "request", func(m *Message) { req(m).Name = ""; req(m).Offset = 0 }},
		{"responseMaxData", "response", func(m *Message) { m.GetResponse().Data = make([]byte, MaxBlockSize) }},
		{"responseUnknownCode", "responseError", func(m *Message) { m.GetResponse().Code = 77 }},
		{"closeMultiline", "close", func(m *Message) { m.GetClose().Reason = "a\nb" }},
		{"closeEmpty", "close", func(m *Message) { m.GetClose().Reason = "" }},
		{"indexEmptyReset", "indexDelta", func(m *Message) { index(m).ReplaceAll = true; index(m).LastSequence = 0 }},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			m := proto.Clone(sampleMessages()[tt.sample]).(*Message)
			tt.mutate(m)
			if err := Validate(m); err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
		})
	}
}
