package chunk

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// validAverages are all the A values Blocks accepts.
var validAverages = []uint32{64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}

func TestChunkerEmpty(t *testing.T) {
	for _, avg := range validAverages {
		c := NewChunker(bytes.NewReader(nil), avg)
		for range 2 {
			off, data, err := c.Next()
			if !errors.Is(err, io.EOF) || off != 0 || data != nil {
				t.Fatalf("A=%d: Next on empty input = (%d, %d bytes, %v), want (0, nil, EOF)", avg, off, len(data), err)
			}
		}
	}
}

func TestChunkerInvalidAverage(t *testing.T) {
	for _, avg := range []uint32{0, 1, 4096, 32 << 10, 96 << 10, 3 << 20, 8 << 20, 1 << 31} {
		_, _, err := NewChunker(bytes.NewReader([]byte("x")), avg).Next()
		if !errors.Is(err, ErrInvalidAverage) {
			t.Errorf("A=%d: Next error = %v, want ErrInvalidAverage", avg, err)
		}
	}
}

// TestChunkerBounds checks min/max on random data, and that the mean lands
// where normalized FastCDC puts it: about 1.1 A (A/4 before the first
// possible cut, then the wait for a match).
func TestChunkerBounds(t *testing.T) {
	data := randomBytes(1, 16<<20)
	for _, avg := range validAverages {
		p := newParams(avg)
		spans, got := chunkAll(t, NewChunker(bytes.NewReader(data), avg))
		checkSpans(t, p, spans, int64(len(data)))
		if !bytes.Equal(got, data) {
			t.Fatalf("A=%d: chunks do not reassemble to the input", avg)
		}
		mean := float64(len(data)) / float64(len(spans))
		t.Logf("A=%d: %d chunks, mean %.0f = %.2f A", avg, len(spans), mean, mean/float64(avg))
		if r := mean / float64(avg); avg <= 256<<10 && (r < 0.95 || r > 1.3) {
			t.Errorf("A=%d: mean chunk size %.0f = %.2f A, want 0.95..1.3 A", avg, mean, r)
		}
	}
}

func TestChunkerSmallInputIsOneChunk(t *testing.T) {
	for _, n := range []int{1, 100, 16 << 10, 16<<10 + 1, 40000, SmallFileSize - 1} {
		data := randomBytes(uint64(n), n)
		for _, avg := range validAverages {
			spans, _ := chunkAll(t, NewChunker(bytes.NewReader(data), avg))
			if len(spans) != 1 || spans[0].size != n {
				t.Fatalf("A=%d, %d bytes: got chunks %v, want one", avg, n, spans)
			}
		}
	}
	// From SmallFileSize on, A = 64 KiB cuts as usual (min 16 KiB).
	var multi int
	for seed := range uint64(64) {
		data := randomBytes(seed, SmallFileSize+1<<10)
		spans, _ := chunkAll(t, NewChunker(bytes.NewReader(data), 64<<10))
		if len(spans) > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Errorf("no 65 KiB input was cut in more than one chunk at A = 64 KiB")
	}
}

// TestChunkerZeros: a run of one byte value gives a constant fingerprint, so
// zero-filled data (sparse files, VM images) cuts at the maximum size.
func TestChunkerZeros(t *testing.T) {
	for _, avg := range validAverages {
		p := newParams(avg)
		data := make([]byte, 2*p.max+5)
		spans, _ := chunkAll(t, NewChunker(bytes.NewReader(data), avg))
		checkSpans(t, p, spans, int64(len(data)))
		if len(spans) != 3 {
			t.Fatalf("A=%d: %d chunks of zeros, want 3", avg, len(spans))
		}
		for i, s := range spans[:len(spans)-1] {
			if s.size != p.max {
				t.Fatalf("A=%d: zero chunk %d has size %d, want max %d", avg, i, s.size, p.max)
			}
		}
	}
}

// TestChunkerContentDefined: inserting one byte near the start changes only
// the chunks around it; later cut points move with the content.
func TestChunkerContentDefined(t *testing.T) {
	data := randomBytes(3, 32<<20)
	tests := []struct {
		avg uint32
		at  []int
	}{
		{64 << 10, []int{0, 1000, 8 << 10, 100000}},
		{1 << 20, []int{1000, 300 << 10}},
	}
	for _, tt := range tests {
		before := chunkHashes(t, data, tt.avg)
		if len(before) < 20 {
			t.Fatalf("A=%d: only %d chunks: test input too small", tt.avg, len(before))
		}
		for _, at := range tt.at {
			edited := make([]byte, 0, len(data)+1)
			edited = append(append(append(edited, data[:at]...), 0x5a), data[at:]...)
			after := chunkHashes(t, edited, tt.avg)
			changed := 0
			for h := range after {
				if !before[h] {
					changed++
				}
			}
			t.Logf("A=%d, insert at %d: %d of %d chunks changed", tt.avg, at, changed, len(after))
			if changed > 3 {
				t.Errorf("A=%d, insert at %d: %d of %d chunks changed, want at most 3", tt.avg, at, changed, len(after))
			}
		}
	}
}

func chunkHashes(t *testing.T, data []byte, avg uint32) map[string]bool {
	t.Helper()
	c := NewChunker(bytes.NewReader(data), avg)
	hashes := make(map[string]bool)
	for {
		_, d, err := c.Next()
		if errors.Is(err, io.EOF) {
			return hashes
		}
		if err != nil {
			t.Fatal(err)
		}
		hashes[string(sha256Sum(d))] = true
	}
}

// randomReader returns reads of pseudo-random length (including empty
// ones) from data.
type randomReader struct {
	data []byte
	rng  splitMix64
	max  int
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := int(r.rng.next() % uint64(r.max+1)) // 0 is allowed: (0, nil) is a legal Read
	n = min(n, len(p), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// TestChunkerReadSizes: cut points depend on the content only, not on how
// the reader delivers it.
func TestChunkerReadSizes(t *testing.T) {
	small := randomBytes(4, 700<<10)
	large := randomBytes(5, 8<<20)
	tests := []struct {
		name string
		data []byte
		avg  uint32
		r    func([]byte) io.Reader
	}{
		{"oneByte", small, 64 << 10, func(d []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(d)) }},
		{"half", large, 256 << 10, func(d []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(d)) }},
		{"dataErr", large, 64 << 10, func(d []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(d)) }},
		{"random64K", large, 64 << 10, func(d []byte) io.Reader { return &randomReader{data: d, rng: 7, max: 100 << 10} }},
		{"random1M", large, 1 << 20, func(d []byte) io.Reader { return &randomReader{data: d, rng: 8, max: 3 << 20} }},
		{"randomTiny", small, 64 << 10, func(d []byte) io.Reader { return &randomReader{data: d, rng: 9, max: 777} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newParams(tt.avg)
			want := refCut(p, tt.data)
			spans, got := chunkAll(t, NewChunker(tt.r(tt.data), tt.avg))
			if !bytes.Equal(got, tt.data) {
				t.Fatal("chunks do not reassemble to the input")
			}
			checkSpans(t, p, spans, int64(len(tt.data)))
			if len(spans) != len(want) {
				t.Fatalf("%d chunks, want %d", len(spans), len(want))
			}
			for i := range want {
				if spans[i].size != want[i] {
					t.Fatalf("chunk %d has size %d, want %d", i, spans[i].size, want[i])
				}
			}
		})
	}
}

type errAfterReader struct {
	r   io.Reader
	n   int
	err error
}

func (e *errAfterReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.err
	}
	p = p[:min(len(p), e.n)]
	n, err := e.r.Read(p)
	e.n -= n
	return n, err
}

func TestChunkerReadError(t *testing.T) {
	boom := errors.New("boom")
	data := randomBytes(6, 10<<20)
	c := NewChunker(&errAfterReader{r: bytes.NewReader(data), n: 6 << 20, err: boom}, 64<<10)
	var got int
	var err error
	for err == nil {
		var d []byte
		_, d, err = c.Next()
		got += len(d)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("Next error = %v, want boom", err)
	}
	if got > 6<<20 {
		t.Fatalf("returned %d bytes before the error, but only %d were read", got, 6<<20)
	}
	if _, _, again := c.Next(); !errors.Is(again, boom) {
		t.Fatalf("second Next error = %v, want boom again", again)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestChunkerNoProgress(t *testing.T) {
	if _, _, err := NewChunker(emptyReader{}, 64<<10).Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("Next error = %v, want io.ErrNoProgress", err)
	}
}
