package chunk

import (
	"errors"
	"fmt"
	"math/bits"
)

// Limits on the average chunk size A. Blocks and NewChunker accept any power
// of two in [MinAverage, MaxAverage]; AverageSize only ever picks 64 KiB,
// 256 KiB, 1 MiB or 4 MiB.
const (
	MinAverage = 64 << 10
	MaxAverage = 4 << 20

	// MaxChunkSize is the largest chunk any valid A produces (4 × MaxAverage).
	// It is half of wire.MaxMessageSize, so a chunk always fits in a frame.
	MaxChunkSize = 4 * MaxAverage

	// SmallFileSize: an input shorter than this is always a single chunk,
	// whatever A is. (For A ≥ 256 KiB this already follows from the minimum
	// chunk size A/4.)
	SmallFileSize = 64 << 10
)

// ErrInvalidAverage marks an average chunk size that is not a power of two in
// [MinAverage, MaxAverage].
var ErrInvalidAverage = errors.New("chunk: invalid average chunk size")

// ValidAverage reports whether avg is an A that Blocks accepts. Check it on
// every block size a peer announces.
func ValidAverage(avg uint32) error {
	if avg < MinAverage || avg > MaxAverage || avg&(avg-1) != 0 {
		return fmt.Errorf("%w: %d (want a power of two in [%d, %d])", ErrInvalidAverage, avg, MinAverage, MaxAverage)
	}
	return nil
}

// Limits returns the minimum and maximum chunk size for a valid A: A/4 and
// 4A. Every chunk except the last of an input is longer than minSize (the
// first possible cut is after byte minSize+1); no chunk is longer than
// maxSize. The result is meaningless if ValidAverage(avg) fails.
func Limits(avg uint32) (minSize, maxSize int) {
	return int(avg / 4), int(avg) * 4
}

// sizeBand is one step of the size policy: files of size in (lo, hi] use avg.
type sizeBand struct {
	lo, hi int64 // hi < 0 means unbounded
	avg    uint32
}

// policy is the size policy of docs/chunking.md. Like the gear table it is
// part of the format: a different A moves every cut point.
var policy = [...]sizeBand{
	{lo: -1, hi: 128 << 20, avg: 64 << 10},
	{lo: 128 << 20, hi: 4 << 30, avg: 256 << 10},
	{lo: 4 << 30, hi: 256 << 30, avg: 1 << 20},
	{lo: 256 << 30, hi: -1, avg: 4 << 20},
}

// hysteresis is how far (as a factor) a file's size may leave the band of its
// previous A before the A changes.
const hysteresis = 4

// AverageSize returns the chunker's average chunk size A for a file of the
// given size (the policy in docs/chunking.md):
//
//	size ≤ 128 MiB          64 KiB   (inputs < 64 KiB are one chunk: SmallFileSize)
//	128 MiB < size ≤ 4 GiB  256 KiB
//	4 GiB < size ≤ 256 GiB  1 MiB
//	size > 256 GiB          4 MiB
//
// prev is the A the previous version of the file used (0 if none): it is kept
// unless the size moved out of its band by more than 4×, so small edits never
// move every cut point. A prev that is not one of the four policy values (for
// instance a bogus value from a peer) is ignored.
func AverageSize(size int64, prev uint32) uint32 {
	if prev != 0 {
		for _, b := range policy {
			if b.avg != prev {
				continue
			}
			if (b.lo < 0 || size > b.lo/hysteresis) && (b.hi < 0 || size <= b.hi*hysteresis) {
				return prev
			}
			break
		}
	}
	for _, b := range policy {
		if b.hi < 0 || size <= b.hi {
			return b.avg
		}
	}
	panic("unreachable: the last band is unbounded")
}

// log2 returns the exponent of a power of two.
func log2(v uint32) int { return bits.TrailingZeros32(v) }
