// Package chunk cuts file contents into content-defined chunks (FastCDC) and
// hashes them with SHA-256. Chunk boundaries are part of the wire format: the
// gear table and parameters are frozen and checked by golden vectors.
//
// The algorithm, its parameters and the size policy are specified in
// docs/chunking.md.
package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/shoalsync/shoal/transport/wire"
)

// maxInFlightBytes caps the chunk copies Blocks keeps for its hashers, so
// many-core machines with A = 4 MiB do not hold GOMAXPROCS × 32 MiB.
const maxInFlightBytes = 128 << 20

// BlocksHash returns SHA-256 over the concatenated block hashes (the
// FileInfo.blocks_hash of a file). For no blocks it is SHA-256 of nothing.
func BlocksHash(blocks []*wire.BlockInfo) []byte { return wire.BlocksHash(blocks) }

// smallBufs holds SmallFileSize buffers for the small-input fast path.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, SmallFileSize); return &b }}

// hashJob is one chunk copy waiting for a hasher. The hasher sets
// block.Hash and returns buf to the free list.
type hashJob struct {
	block *wire.BlockInfo
	buf   []byte
}

// Blocks reads r to EOF and returns its chunks with their SHA-256 hashes,
// using all cores for hashing and memory bounded independent of file size.
// avg must satisfy ValidAverage (AverageSize picks it).
//
// # Concurrency
//
// The calling goroutine cuts (FastCDC is sequential) and copies each chunk
// into one of `slots` recycled buffers; GOMAXPROCS hashers take the copies
// from a channel, set the block's hash and give the buffer back. Order needs
// no reassembly: the block list is appended by the cutter, and each hasher
// writes only the Hash field of the block it was handed. Memory is the
// Chunker's buffer (max(8A, 4 MiB)) plus slots × 4A, with slots =
// 2 × GOMAXPROCS capped at 128 MiB of buffers (at least 2), plus the
// returned list itself. Cancellation is checked between chunks: a Read that
// blocks is not interrupted. Every hasher has exited when Blocks returns.
func Blocks(ctx context.Context, r io.Reader, avg uint32) ([]*wire.BlockInfo, error) {
	if err := ValidAverage(avg); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("chunking: %w", err)
	}
	// Small inputs are one chunk: hash them here, without the chunker's
	// buffer or hashing goroutines. Scanning many small files is dominated
	// by this case.
	head := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(head)
	n, err := io.ReadFull(r, (*head)[:SmallFileSize])
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if n == 0 {
			return nil, nil
		}
		sum := sha256.Sum256((*head)[:n])
		return []*wire.BlockInfo{{Offset: 0, Size: int32(n), Hash: sum[:]}}, nil
	case err != nil:
		return nil, fmt.Errorf("chunking: reading at offset 0: %w", err)
	}
	r = io.MultiReader(bytes.NewReader((*head)[:n]), r)

	_, maxSize := Limits(avg)
	workers := runtime.GOMAXPROCS(0)
	slots := max(2, min(2*workers, maxInFlightBytes/maxSize))

	free := make(chan []byte, slots)
	for range slots {
		free <- nil // allocated on first use
	}
	// jobs can hold every slot, so sending never blocks.
	jobs := make(chan hashJob, slots)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				if ctx.Err() == nil {
					sum := sha256.Sum256(j.buf)
					j.block.Hash = sum[:]
				}
				free <- j.buf
			}
		})
	}

	c := NewChunker(r, avg)
	defer c.release()
	blocks, err := cutAll(ctx, c, maxSize, free, jobs)
	close(jobs)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	// A hasher skips its work once ctx is done; make sure that did not
	// happen after the last chunk was cut.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("hashing: %w", err)
	}
	return blocks, nil
}

// cutAll runs the Chunker to EOF, handing each chunk to the hashers.
func cutAll(ctx context.Context, c *Chunker, maxSize int, free <-chan []byte, jobs chan<- hashJob) ([]*wire.BlockInfo, error) {
	var blocks []*wire.BlockInfo
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("chunking: %w", err)
		}
		off, data, err := c.Next()
		if errors.Is(err, io.EOF) {
			return blocks, nil
		}
		if err != nil {
			return nil, fmt.Errorf("chunking: %w", err)
		}
		var buf []byte
		select {
		case buf = <-free:
		case <-ctx.Done():
			return nil, fmt.Errorf("chunking: %w", ctx.Err())
		}
		if buf == nil {
			buf = make([]byte, 0, maxSize)
		}
		buf = append(buf[:0], data...)
		b := &wire.BlockInfo{Offset: off, Size: int32(len(data))}
		blocks = append(blocks, b)
		jobs <- hashJob{block: b, buf: buf}
	}
}
