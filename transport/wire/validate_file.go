package wire

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
)

// BlocksHash returns SHA-256 over the concatenated block hashes: the
// blocks_hash of a file record. A file without blocks (an empty file) has
// the SHA-256 of the empty string.
func BlocksHash(blocks []*BlockInfo) []byte {
	h := sha256.New()
	for _, b := range blocks {
		h.Write(b.GetHash())
	}
	return h.Sum(nil)
}

func fileInvalid(f *FileInfo, format string, args ...any) error {
	return invalid("%s: "+format, append([]any{quote(f.Name)}, args...)...)
}

// ValidateFileInfo checks one file record from a peer against the rules in
// docs/protocol.md ("File records"). For a file that is not deleted this
// includes recomputing blocks_hash from the block hashes, so the cost is one
// SHA-256 over 32 bytes per block.
func ValidateFileInfo(f *FileInfo) error {
	if f == nil {
		return invalid("missing file record")
	}
	maxBlock := int32(MaxBlockSize)
	if len(f.Meta) != 0 {
		maxBlock = MaxSealedBlockSize // a twin, as sent to an encrypted peer
	}
	if err := validateRecord(f, maxBlock); err != nil {
		return err
	}
	if f.Sealed == nil {
		return nil
	}
	if len(f.Meta) != 0 {
		return fileInvalid(f, "a twin with a twin")
	}
	t := f.Sealed
	switch {
	case t.Sealed != nil:
		return fileInvalid(f, "twin with a twin")
	case len(t.Meta) == 0:
		return fileInvalid(f, "twin without meta")
	case t.Type != FileType_FILE_TYPE_FILE:
		return fileInvalid(f, "twin of type %v", t.Type)
	case t.LocalFlags != 0:
		return fileInvalid(f, "twin with local flags")
	}
	return validateRecord(t, MaxSealedBlockSize)
}

// validateRecord checks one record, not its twin; maxBlock bounds block sizes.
func validateRecord(f *FileInfo, maxBlock int32) error {
	if err := ValidName(f.Name); err != nil {
		return err
	}
	switch {
	case f.Type != FileType_FILE_TYPE_FILE && f.Type != FileType_FILE_TYPE_DIRECTORY && f.Type != FileType_FILE_TYPE_SYMLINK:
		return fileInvalid(f, "unknown type %d", int32(f.Type))
	case f.Size < 0 || f.Size > MaxFileSize:
		return fileInvalid(f, "size %d (want 0-%d)", f.Size, int64(MaxFileSize))
	case f.Permissions > 0o7777:
		return fileInvalid(f, "permissions %#o above 07777", f.Permissions)
	case f.ModifiedNs < 0 || f.ModifiedNs >= 1e9:
		return fileInvalid(f, "modified_ns %d (want 0-999999999)", f.ModifiedNs)
	case len(f.BlocksHash) != 0 && len(f.BlocksHash) != HashSize:
		return fileInvalid(f, "blocks hash of %d bytes, want %d", len(f.BlocksHash), HashSize)
	case f.BlockSize != 0 && (f.BlockSize < MinAverageBlockSize || f.BlockSize > MaxAverageBlockSize || f.BlockSize&(f.BlockSize-1) != 0):
		return fileInvalid(f, "block size %d (want a power of two in [%d, %d])", f.BlockSize, MinAverageBlockSize, MaxAverageBlockSize)
	case len(f.SymlinkTarget) > MaxSymlinkTargetLen:
		return fileInvalid(f, "symlink target of %d bytes, limit %d", len(f.SymlinkTarget), MaxSymlinkTargetLen)
	case strings.IndexByte(f.SymlinkTarget, 0) >= 0:
		return fileInvalid(f, "symlink target contains NUL")
	case f.Type != FileType_FILE_TYPE_SYMLINK && f.SymlinkTarget != "":
		return fileInvalid(f, "symlink target on a %v", f.Type)
	case len(f.Signature) != 0 && len(f.Signature) != SignatureSize:
		return fileInvalid(f, "signature of %d bytes, want %d", len(f.Signature), SignatureSize)
	case len(f.Meta) > MaxMetaSize:
		return fileInvalid(f, "meta of %d bytes, limit %d", len(f.Meta), MaxMetaSize)
	case len(f.Meta) != 0 && f.Type != FileType_FILE_TYPE_FILE:
		return fileInvalid(f, "meta on a %v", f.Type)
	}
	if err := validateVector(f.Version); err != nil {
		return fileInvalid(f, "%w", err)
	}

	if f.Type != FileType_FILE_TYPE_FILE {
		switch {
		case len(f.Blocks) != 0 || len(f.BlocksHash) != 0 || f.BlockSize != 0:
			return fileInvalid(f, "%v with blocks", f.Type)
		case f.Size != 0:
			return fileInvalid(f, "%v with size %d", f.Type, f.Size)
		case f.Type == FileType_FILE_TYPE_SYMLINK && !f.Deleted && f.SymlinkTarget == "":
			return fileInvalid(f, "symlink without target")
		}
		return nil
	}
	if f.Deleted && len(f.Blocks) == 0 {
		// A deletion carries no content; size and blocks_hash are ignored.
		return nil
	}
	if len(f.Blocks) > 0 && f.BlockSize == 0 {
		return fileInvalid(f, "blocks without block size")
	}
	if err := validateBlocks(f.Blocks, f.Size, maxBlock); err != nil {
		return fileInvalid(f, "%w", err)
	}
	if !bytes.Equal(f.BlocksHash, BlocksHash(f.Blocks)) {
		return fileInvalid(f, "blocks hash does not match the blocks")
	}
	return nil
}

// validateBlocks checks that blocks cover [0, size) contiguously with sizes in
// (0, MaxBlockSize] and HashSize hashes.
func validateBlocks(blocks []*BlockInfo, size int64, maxBlock int32) error {
	var off int64
	for i, b := range blocks {
		switch {
		case b == nil:
			return fmt.Errorf("block %d is missing", i)
		case b.Offset != off:
			return fmt.Errorf("block %d at offset %d, want %d", i, b.Offset, off)
		case b.Size <= 0 || b.Size > maxBlock:
			return fmt.Errorf("block %d has size %d (want 1-%d)", i, b.Size, maxBlock)
		case len(b.Hash) != HashSize:
			return fmt.Errorf("block %d has a hash of %d bytes, want %d", i, len(b.Hash), HashSize)
		}
		off += int64(b.Size)
		if off > size {
			return fmt.Errorf("blocks extend past the size %d", size)
		}
	}
	if off != size {
		return fmt.Errorf("blocks cover %d bytes, size is %d", off, size)
	}
	return nil
}

// validateVector checks a version vector: 1 to MaxVersionCounters counters,
// sorted strictly by id, none zero.
func validateVector(v *Vector) error {
	cs := v.GetCounters()
	if len(cs) == 0 {
		return fmt.Errorf("empty version vector")
	}
	if len(cs) > MaxVersionCounters {
		return fmt.Errorf("version vector has %d counters, limit %d", len(cs), MaxVersionCounters)
	}
	for i, c := range cs {
		switch {
		case c == nil:
			return fmt.Errorf("version counter %d is missing", i)
		case c.Value == 0:
			return fmt.Errorf("version counter %x is zero", c.Id)
		case c.Value > MaxCounterValue:
			return fmt.Errorf("version counter %x is %d, limit %d", c.Id, c.Value, uint64(MaxCounterValue))
		case i > 0 && c.Id <= cs[i-1].Id:
			return fmt.Errorf("version counters not sorted strictly by id (%x after %x)", c.Id, cs[i-1].Id)
		}
	}
	return nil
}
