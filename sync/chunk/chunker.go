package chunk

import (
	"errors"
	"fmt"
	"io"
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
// matches.
func (p *params) cut(d []byte) int {
	n := len(d)
	if n <= p.min {
		return n
	}
	if n > p.max {
		n = p.max
	}
	norm := min(p.avg, n)
	var fp uint64
	for i, b := range d[p.min:norm] {
		fp = fp<<1 + gear[b]
		if fp&p.maskS == 0 {
			return p.min + i + 1
		}
	}
	for i, b := range d[norm:n] {
		fp = fp<<1 + gear[b]
		if fp&p.maskL == 0 {
			return norm + i + 1
		}
	}
	return n
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
	return &Chunker{r: r, p: p, buf: make([]byte, p.bufSize)}
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
