package chunk

import (
	"bytes"
	"testing"
)

// tinyParams scales the chunker down to A = 2^k bytes, so that the short
// inputs a fuzzer produces still cut into many chunks, cross the buffer
// boundary and hit the small-input rule. The masks follow newParams.
func tinyParams(k int, extraBuf int) params {
	avg := 1 << k
	p := params{
		min:   avg / 4,
		avg:   avg,
		max:   avg * 4,
		maskS: ^uint64(0) << (64 - (k + 2)),
		maskL: ^uint64(0) << (64 - (k - 2)),
		small: 2 * avg,
	}
	p.bufSize = p.max + extraBuf%(3*p.max)
	return p
}

// FuzzChunker feeds arbitrary bytes through the Chunker in arbitrary read
// sizes and checks the invariants: chunks tile the input, every chunk but
// the last is within (min, max], inputs below the small size are one
// chunk, the bytes reassemble to the input, and the cut points equal those
// of a one-shot cut of the whole input.
func FuzzChunker(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint16(1), uint16(0))
	f.Add([]byte("hello, world"), uint8(1), uint16(3), uint16(5))
	f.Add(make([]byte, 5000), uint8(2), uint16(100), uint16(77))
	f.Add(randomBytes(1, 3000), uint8(0), uint16(64), uint16(0))
	f.Add(randomBytes(2, 20000), uint8(3), uint16(4096), uint16(1000))
	f.Add(randomBytes(3, 70000), uint8(4), uint16(65535), uint16(65535))
	f.Fuzz(func(t *testing.T, data []byte, k uint8, readMax uint16, extraBuf uint16) {
		p := tinyParams(6+int(k%5), int(extraBuf)) // A = 64 B .. 1 KiB
		r := &randomReader{data: data, rng: splitMix64(readMax), max: int(readMax) + 1}
		spans, got := chunkAll(t, newChunker(r, p))
		if !bytes.Equal(got, data) {
			t.Fatal("chunks do not reassemble to the input")
		}
		checkSpans(t, p, spans, int64(len(data)))
		want := refCut(p, data)
		if len(spans) != len(want) {
			t.Fatalf("%d chunks, one-shot cut gives %d", len(spans), len(want))
		}
		for i := range want {
			if spans[i].size != want[i] {
				t.Fatalf("chunk %d has size %d, one-shot cut gives %d", i, spans[i].size, want[i])
			}
		}

		// The real parameters, on the input repeated up to 5 × 64 KiB.
		if len(data) == 0 {
			return
		}
		n := 5*SmallFileSize + int(readMax)%SmallFileSize
		big := bytes.Repeat(data, n/len(data)+1)[:n]
		pp := newParams(64 << 10)
		spans, got = chunkAll(t, NewChunker(bytes.NewReader(big), 64<<10))
		if !bytes.Equal(got, big) {
			t.Fatal("chunks of the repeated input do not reassemble to it")
		}
		checkSpans(t, pp, spans, int64(len(big)))
	})
}
