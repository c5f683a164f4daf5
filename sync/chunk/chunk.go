// Package chunk cuts file contents into content-defined chunks (FastCDC) and
// hashes them with SHA-256. Chunk boundaries are part of the wire format: the
// gear table and parameters are frozen and checked by golden vectors.
package chunk

import (
	"context"
	"io"

	"github.com/shoalsync/shoal/transport/wire"
)

// AverageSize returns the chunker's average chunk size A for a file of the
// given size (the policy in docs/protocol.md). prev is the A the previous
// version of the file used (0 if none): it is kept unless the size moved out
// of its range by more than 4×, so small edits never move every cut point.
func AverageSize(size int64, prev uint32) uint32 { panic("unimplemented") }

// Blocks reads r to EOF and returns its chunks with their SHA-256 hashes,
// using all cores for hashing and memory bounded independent of file size.
func Blocks(ctx context.Context, r io.Reader, avg uint32) ([]*wire.BlockInfo, error) {
	panic("unimplemented")
}

// BlocksHash returns SHA-256 over the concatenated block hashes (the
// FileInfo.blocks_hash of a file).
func BlocksHash(blocks []*wire.BlockInfo) []byte { panic("unimplemented") }
