package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/shoalsync/shoal/transport/wire"
)

// checkGoroutines fails the test if goroutines started during it are still
// running shortly after it ends.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond) // polling interval, not a wait for an event
		}
	})
}

func TestMaxChunkFitsFrame(t *testing.T) {
	if MaxChunkSize > wire.MaxMessageSize/2 {
		t.Fatalf("MaxChunkSize %d leaves no room in a %d-byte frame", MaxChunkSize, wire.MaxMessageSize)
	}
}

func TestBlocksEmpty(t *testing.T) {
	checkGoroutines(t)
	blocks, err := Blocks(context.Background(), bytes.NewReader(nil), 64<<10)
	if err != nil || len(blocks) != 0 {
		t.Fatalf("Blocks(empty) = %d blocks, %v; want none", len(blocks), err)
	}
	empty := sha256.Sum256(nil)
	if got := BlocksHash(blocks); !bytes.Equal(got, empty[:]) {
		t.Fatalf("BlocksHash(none) = %x, want SHA-256 of nothing %x", got, empty)
	}
}

func TestBlocksHash(t *testing.T) {
	a, b := sha256.Sum256([]byte("a")), sha256.Sum256([]byte("b"))
	want := sha256.Sum256(append(a[:], b[:]...))
	got := BlocksHash([]*wire.BlockInfo{{Hash: a[:]}, {Hash: b[:]}})
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("BlocksHash = %x, want %x", got, want)
	}
}

func TestBlocksInvalidAverage(t *testing.T) {
	for _, avg := range []uint32{0, 32 << 10, 100 << 10, 8 << 20} {
		if _, err := Blocks(context.Background(), bytes.NewReader([]byte("x")), avg); !errors.Is(err, ErrInvalidAverage) {
			t.Errorf("Blocks with A=%d: error %v, want ErrInvalidAverage", avg, err)
		}
	}
}

// TestBlocksMatchesChunker: the parallel pipeline returns exactly the
// Chunker's chunks, in order, with their SHA-256, whatever GOMAXPROCS is.
func TestBlocksMatchesChunker(t *testing.T) {
	data := randomBytes(20, 16<<20)
	for _, procs := range []int{1, 3} {
		for _, avg := range []uint32{64 << 10, 1 << 20} {
			t.Run("", func(t *testing.T) {
				checkGoroutines(t)
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				blocks, err := Blocks(context.Background(), bytes.NewReader(data), avg)
				if err != nil {
					t.Fatal(err)
				}
				c := NewChunker(bytes.NewReader(data), avg)
				for i := 0; ; i++ {
					off, d, err := c.Next()
					if errors.Is(err, io.EOF) {
						if i != len(blocks) {
							t.Fatalf("GOMAXPROCS=%d A=%d: %d blocks, Chunker gave %d", procs, avg, len(blocks), i)
						}
						break
					}
					if i >= len(blocks) {
						t.Fatalf("GOMAXPROCS=%d A=%d: only %d blocks", procs, avg, len(blocks))
					}
					b := blocks[i]
					if b.Offset != off || int(b.Size) != len(d) || !bytes.Equal(b.Hash, sha256Sum(d)) {
						t.Fatalf("GOMAXPROCS=%d A=%d: block %d = (%d, %d, %x), want (%d, %d, %x)",
							procs, avg, i, b.Offset, b.Size, b.Hash, off, len(d), sha256Sum(d))
					}
				}
			})
		}
	}
}

func TestBlocksReadError(t *testing.T) {
	checkGoroutines(t)
	boom := errors.New("boom")
	r := &errAfterReader{r: bytes.NewReader(randomBytes(21, 20<<20)), n: 10 << 20, err: boom}
	blocks, err := Blocks(context.Background(), r, 64<<10)
	if !errors.Is(err, boom) || blocks != nil {
		t.Fatalf("Blocks = %d blocks, %v; want nil, boom", len(blocks), err)
	}
}

// cancelReader cancels a context once n bytes have been read.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= n
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestBlocksCancel(t *testing.T) {
	checkGoroutines(t)
	data := randomBytes(22, 40<<20)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Blocks(ctx, bytes.NewReader(data), 64<<10); !errors.Is(err, context.Canceled) {
		t.Fatalf("Blocks with a cancelled context: %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	r := &cancelReader{r: iotest1MiB(data), n: 20 << 20, cancel: cancel}
	blocks, err := Blocks(ctx, r, 64<<10)
	if !errors.Is(err, context.Canceled) || blocks != nil {
		t.Fatalf("Blocks cancelled midway = %d blocks, %v; want nil, context.Canceled", len(blocks), err)
	}
	if r.n < -(8 << 20) {
		t.Fatalf("Blocks read %d bytes past the cancellation", -r.n)
	}
}

// iotest1MiB returns a reader that hands out at most 1 MiB per Read.
func iotest1MiB(data []byte) io.Reader {
	return &randomReader{data: data, rng: 1, max: 1 << 20}
}

// TestBlocksSparseHuge chunks a sparse file larger than 4 GiB (so offsets
// and sizes cross 32 bits) and checks that the heap stays bounded. The file
// takes only a few KiB of disk.
func TestBlocksSparseHuge(t *testing.T) {
	if raceEnabled {
		t.Skip("chunking 4 GiB takes minutes under the race detector; the pipeline's concurrency is covered by the other Blocks tests")
	}
	checkGoroutines(t)
	const size = 4<<30 + 12345
	f, err := os.Create(filepath.Join(t.TempDir(), "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	patches := []int64{0, 1<<30 + 7, 3<<30 - 1000, size - 5000}
	for i, off := range patches {
		if _, err := f.WriteAt(randomBytes(uint64(100+i), 4096), off); err != nil {
			t.Fatal(err)
		}
	}
	if st, ok := diskUsage(f); ok {
		t.Logf("sparse file: %d bytes, %d bytes on disk", size, st)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}

	avg := AverageSize(size, 0)
	if avg != 1<<20 {
		t.Fatalf("AverageSize(%d) = %d, want 1 MiB", int64(size), avg)
	}
	peak := watchHeap(t)
	start := time.Now()
	blocks, err := Blocks(context.Background(), f, avg)
	elapsed := time.Since(start)
	growth := peak()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d blocks in %v (%.0f MB/s); peak heap growth %d MiB", len(blocks), elapsed, float64(size)/elapsed.Seconds()/1e6, growth>>20)

	_, maxSize := Limits(avg)
	zero := sha256.Sum256(make([]byte, maxSize))
	var off int64
	zeros := 0
	for i, b := range blocks {
		if b.Offset != off {
			t.Fatalf("block %d at offset %d, want %d", i, b.Offset, off)
		}
		if b.Size <= 0 || int(b.Size) > maxSize || len(b.Hash) != sha256.Size {
			t.Fatalf("block %d: size %d, hash %x", i, b.Size, b.Hash)
		}
		if bytes.Equal(b.Hash, zero[:]) {
			zeros++
		}
		off += int64(b.Size)
	}
	if off != size {
		t.Fatalf("blocks cover %d bytes, want %d", off, int64(size))
	}
	// Zeros cut at max size, so all but a few blocks are the same
	// max-size block of zeros.
	if zeros < len(blocks)-3*len(patches)-1 {
		t.Errorf("only %d of %d blocks are max-size zero blocks", zeros, len(blocks))
	}
	if growth > 256<<20 {
		t.Errorf("heap grew by %d MiB while chunking, want < 256 MiB", growth>>20)
	}
}

// watchHeap samples the heap until the returned function is called, which
// stops the sampler and returns the peak growth over the starting heap.
func watchHeap(t *testing.T) func() uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		var peak uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	var once bool
	finish := func() uint64 {
		if once {
			return 0
		}
		once = true
		close(stop)
		peak := <-done
		if peak < base {
			return 0
		}
		return peak - base
	}
	t.Cleanup(func() { finish() })
	return finish
}
