package chunk

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// splitMix64 is the SplitMix64 generator (Steele, Lea, Flood 2014), written
// out here so test inputs never depend on math/rand's algorithms.
type splitMix64 uint64

func (s *splitMix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// randomBytes returns n bytes from SplitMix64 seeded with seed, each 64-bit
// output stored little-endian.
func randomBytes(seed uint64, n int) []byte {
	s := splitMix64(seed)
	b := make([]byte, (n+7)&^7)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], s.next())
	}
	return b[:n]
}

// chunkSpan is one chunk's place in its input.
type chunkSpan struct {
	off  int64
	size int
}

// chunkAll runs a Chunker to EOF and returns the chunks' spans and a copy of
// their bytes concatenated.
func chunkAll(t testing.TB, c *Chunker) ([]chunkSpan, []byte) {
	t.Helper()
	var spans []chunkSpan
	var all bytes.Buffer
	for {
		off, data, err := c.Next()
		if errors.Is(err, io.EOF) {
			return spans, all.Bytes()
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		spans = append(spans, chunkSpan{off, len(data)})
		all.Write(data)
	}
}

// refCut cuts a whole in-memory input with p, the simplest possible way
// (cutPlain): it is the reference the streaming Chunker must agree with.
func refCut(p params, d []byte) []int {
	var sizes []int
	if len(d) > 0 && len(d) < p.small {
		return []int{len(d)}
	}
	for len(d) > 0 {
		n := cutPlain(p, d)
		sizes = append(sizes, n)
		d = d[n:]
	}
	return sizes
}

// checkSpans checks that spans tile [0, total) and respect p's bounds: every
// chunk but the last is longer than p.min, none is longer than p.max, and a
// single chunk holds inputs shorter than p.small.
func checkSpans(t testing.TB, p params, spans []chunkSpan, total int64) {
	t.Helper()
	var off int64
	for i, s := range spans {
		if s.off != off {
			t.Fatalf("chunk %d at offset %d, want %d", i, s.off, off)
		}
		if s.size <= 0 || s.size > p.max {
			t.Fatalf("chunk %d has size %d, want 1..%d", i, s.size, p.max)
		}
		if i < len(spans)-1 && s.size <= p.min {
			t.Fatalf("chunk %d of %d has size %d, want > %d", i, len(spans), s.size, p.min)
		}
		off += int64(s.size)
	}
	if off != total {
		t.Fatalf("chunks cover %d bytes, want %d", off, total)
	}
	if total > 0 && total < int64(p.small) && len(spans) != 1 {
		t.Fatalf("%d chunks for a %d-byte input, want 1", len(spans), total)
	}
}

// sha256Sum returns the SHA-256 of b as a slice.
func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// cutPlain is FastCDC's cut exactly as the paper writes it, one byte per
// step: the reference that params.cut (two bytes per step) must match.
func cutPlain(p params, d []byte) int {
	if len(d) <= p.min {
		return len(d)
	}
	n := min(len(d), p.max)
	norm := min(p.avg, n)
	var fp uint64
	for i := p.min; i < n; i++ {
		fp = fp<<1 + gear[d[i]]
		mask := p.maskS
		if i >= norm {
			mask = p.maskL
		}
		if fp&mask == 0 {
			return i + 1
		}
	}
	return n
}
