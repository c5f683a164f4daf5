package chunk

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// params are the FastCDC parameters for one average size A.
type params struct {
	min, avg, max int    // A/4, A, 4A
	maskS, maskL  uint64 // cut masks before and after A (normalization level 2)
	small         int    // inputs shorter than this are one chunk
	bufSize       int    // Chunker buffer; at least max
}

// newParams derives the frozen parameters for avg = 2^k: maskS has the k+2
// top bits of the 64-bit fingerprint set, maskL the top k-2 bits
// (normalization level 2; see docs/chunking.md for why the top bits).
func newParams(avg uint32) params {
	k := log2(avg)
	p := params{
		min:   int(avg) / 4,
		avg:   int(avg),
		max:   int(avg) * 4,
		maskS: ^uint64(0) << (64 - (k + 2)),
		maskL: ^uint64(0) << (64 - (k - 2)),
		small: SmallFileSize,
	}
	p.bufSize = max(2*p.max, 4<<20)
	return p
}

// cut returns the length of the chunk at the start of d, where d holds either
// at least p.max bytes or everything up to the end of the input. This is
// FastCDC with normalized chunking (Xia et al., "The Design of Fast
// Content-Defined Chunking for Data Deduplication Based Storage Systems",
// IEEE TPDS 2020, Algorithm 2), cutting after the byte whose fingerprint
// matches (the paper's pseudo-code cuts before it; most implementations,
// and we, include it). In plain form:
//
//	if len(d) <= min { return len(d) }
//	n := min(len(d), max); norm := min(avg, n); fp := 0
//	for i := min; i < n; i++ {
//		fp = fp<<1 + gear[d[i]]
//		mask := maskS; if i >= norm { mask = maskL }
//		if fp&mask == 0 { return i + 1 }
//	}
//	return n
//
// (cutPlain in the tests is exactly this, and the fuzz test holds cut to it.)
func (p *params) cut(d []byte) int {
	n := len(d)
	if n <= p.min {
		return n
	}
	n = min(n, p.max)
	norm := min(p.avg, n)
	fp, i := scan(d[:norm], p.min, 0, p.maskS)
	if i >= 0 {
		return i
	}
	if _, i = scan(d[:n], norm, fp, p.maskL); i >= 0 {
		return i
	}
	return n
}

// scan rolls the gear fingerprint fp over d[from:] and returns the index
// just past the first byte after which fp&mask == 0, or -1 and the final fp.
// It takes two bytes per step: fp2 = fp<<2 + (g1<<1 + g2) equals
// (fp<<1 + g1)<<1 + g2 but depends on fp through one shift and one add, which
// halves the loop-carried latency; both fp1 and fp2 are still checked, so
// the result is exactly the byte-at-a-time loop's.
func scan(d []byte, from int, fp, mask uint64) (uint64, int) {
	i := from
	for ; i+1 < len(d); i += 2 {
		g1, g2 := gear[d[i]], gear[d[i+1]]
		fp1 := fp<<1 + g1
		fp = fp<<2 + (g1<<1 + g2)
		if fp1&mask == 0 {
			return fp1, i + 1
		}
		if fp&mask == 0 {
			return fp, i + 2
		}
	}
	if i < len(d) {
		fp = fp<<1 + gear[d[i]]
		if fp&mask == 0 {
			return fp, i + 1
		}
	}
	return fp, -1
}

// maxEmptyReads is how many (0, nil) reads in a row count as a broken reader.
const maxEmptyReads = 100

// Chunker cuts a stream into content-defined chunks (FastCDC). It reads
// through one internal buffer of max(8A, 4 MiB) bytes, whatever the stream's
// length, and never allocates after NewChunker. A Chunker is not safe for
// concurrent use.
type Chunker struct {
	r   io.Reader
	p   params
	buf []byte
	// buf[start:end] is read but not yet returned; off is the stream offset
	// of buf[start].
	start, end int
	off        int64
	eof        bool
	err        error // sticky: io.EOF after the last chunk, or the failure
	started    bool  // a chunk was returned (SmallFileSize applies to the first only)
}

// NewChunker returns a Chunker reading r with average chunk size avg. If avg
// is invalid (see ValidAverage), the first Next returns the error.
func NewChunker(r io.Reader, avg uint32) *Chunker {
	if err := ValidAverage(avg); err != nil {
		return &Chunker{err: err}
	}
	return newChunker(r, newParams(avg))
}

func newChunker(r io.Reader, p params) *Chunker {
	return &Chunker{r: r, p: p, buf: getBuf(p.bufSize)}
}

// bufPools recycles Chunker buffers by size, so hashing many files does
// not allocate (and zero) a multi-MiB buffer each time.
var bufPools sync.Map // int → *sync.Pool of *[]byte

func getBuf(size int) []byte {
	if p, ok := bufPools.Load(size); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]byte); ok && b != nil {
			return *b
		}
	}
	return make([]byte, size)
}

// release returns the Chunker's buffer for reuse; the Chunker must not be
// used afterwards.
func (c *Chunker) release() {
	if c.buf == nil {
		return
	}
	p, _ := bufPools.LoadOrStore(len(c.buf), &sync.Pool{})
	b := c.buf
	p.(*sync.Pool).Put(&b)
	c.buf = nil
}

// Next returns the next chunk and its offset in the stream. data aliases the
// Chunker's buffer and is valid only until the next call. After the last
// chunk Next returns io.EOF; a read error is returned wrapped, and both are
// returned again by every later call.
func (c *Chunker) Next() (offset int64, data []byte, err error) {
	if c.err != nil {
		return c.off, nil, c.err
	}
	if !c.eof && c.end-c.start < c.p.max {
		if err := c.fill(); err != nil {
			c.err = fmt.Errorf("reading at offset %d: %w", c.off+int64(c.end-c.start), err)
			return c.off, nil, c.err
		}
	}
	n := c.end - c.start
	if n == 0 {
		c.err = io.EOF
		return c.off, nil, io.EOF
	}
	var size int
	if !c.started && c.eof && n < c.p.small {
		// The whole input is in the buffer (fill reads until the buffer,
		// which is larger than p.small, is full) and is small.
		size = n
	} else {
		size = c.p.cut(c.buf[c.start:c.end])
	}
	c.started = true
	offset = c.off
	data = c.buf[c.start : c.start+size : c.start+size]
	c.start += size
	c.off += int64(size)
	return offset, data, nil
}

// fill moves the unread bytes to the front of the buffer and reads until the
// buffer is full or the input ends.
func (c *Chunker) fill() error {
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	empty := 0
	for c.end < len(c.buf) {
		n, err := c.r.Read(c.buf[c.end:])
		if n < 0 || n > len(c.buf)-c.end {
			return fmt.Errorf("reader returned invalid count %d", n)
		}
		c.end += n
		switch {
		case errors.Is(err, io.EOF):
			c.eof = true
			return nil
		case err != nil:
			return err
		case n == 0:
			empty++
			if empty >= maxEmptyReads {
				return io.ErrNoProgress
			}
		default:
			empty = 0
		}
	}
	return nil
}
