package chunk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

var benchData = sync.OnceValue(func() []byte { return randomBytes(99, 256<<20) })

// BenchmarkChunker measures cutting alone: 256 MiB of random data from
// memory, reported in MB/s of input.
func BenchmarkChunker(b *testing.B) {
	data := benchData()
	for _, avg := range []uint32{64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("A=%dK", avg>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var chunks int
			for b.Loop() {
				c := NewChunker(bytes.NewReader(data), avg)
				chunks = 0
				for {
					_, _, err := c.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					chunks++
				}
			}
			b.ReportMetric(float64(len(data))/float64(chunks)/1024, "KiB/chunk")
		})
	}
}

// BenchmarkBlocks measures the whole pipeline: cutting plus SHA-256 on
// GOMAXPROCS hashers, 256 MiB of random data from memory.
func BenchmarkBlocks(b *testing.B) {
	data := benchData()
	for _, avg := range []uint32{64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("A=%dK", avg>>10), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			var chunks int
			for b.Loop() {
				blocks, err := Blocks(context.Background(), bytes.NewReader(data), avg)
				if err != nil {
					b.Fatal(err)
				}
				chunks = len(blocks)
			}
			b.ReportMetric(float64(len(data))/float64(chunks)/1024, "KiB/chunk")
		})
	}
}

// BenchmarkCut compares the cut loop (two bytes per step) with the
// byte-at-a-time loop of the paper on the same 256 MiB, A = 1 MiB, without
// the Chunker's reading and copying.
func BenchmarkCut(b *testing.B) {
	data := benchData()
	p := newParams(1 << 20)
	for _, impl := range []struct {
		name string
		cut  func([]byte) int
	}{
		{"twoBytes", p.cut},
		{"plain", func(d []byte) int { return cutPlain(p, d) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for d := data; len(d) > 0; {
					d = d[impl.cut(d):]
				}
			}
		})
	}
}
