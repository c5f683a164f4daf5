package index

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoalsync/shoal/transport/wire"
)

const (
	benchFiles = 20000
	benchBatch = 1000
)

// benchRecords returns n small file records (two blocks each), as a scan of
// a folder of small files would produce them.
func benchRecords(n int, v *wire.Vector) []*wire.FileInfo {
	out := make([]*wire.FileInfo, n)
	for i := range out {
		name := fmt.Sprintf("dir%03d/file%05d.txt", i/100, i)
		out[i] = file(name, v, 1700000000, name+"#0", name+"#1")
	}
	return out
}

func benchUpdateLocal(b *testing.B, f *Folder, recs []*wire.FileInfo) {
	for i := 0; i < len(recs); i += benchBatch {
		if err := f.UpdateLocal(locals(recs[i:min(i+benchBatch, len(recs))]...)); err != nil {
			b.Fatal(err)
		}
	}
}

func reportRecords(b *testing.B, start time.Time, perOp int) {
	b.ReportMetric(float64(perOp*b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkUpdateLocal stores 20,000 new local records in batches of 1000
// (synced) into a fresh folder per iteration.
func BenchmarkUpdateLocal(b *testing.B) {
	s := openTest(b, b.TempDir())
	recs := benchRecords(benchFiles, vec(1, 1))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		benchUpdateLocal(b, mustFolder(b, s, fmt.Sprint("bench", i)), recs)
	}
	reportRecords(b, start, benchFiles)
}

// BenchmarkUpdateLocalSingle commits one record per synced batch: the
// latency of one local change.
func BenchmarkUpdateLocalSingle(b *testing.B) {
	s := openTest(b, b.TempDir())
	f := mustFolder(b, s, "bench")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fi := file(fmt.Sprintf("f%d", i%1000), vec(1, uint64(i+1)), 1, "x")
		if err := f.UpdateLocal(locals(fi)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateRemote stores 20,000 remote records in batches of 1000
// into a folder that already holds the same 20,000 names locally (each
// update loads and recomputes the global entry against the local record).
func BenchmarkUpdateRemote(b *testing.B) {
	s := openTest(b, b.TempDir())
	recs := benchRecords(benchFiles, vec(1, 1, 2, 1))
	local := benchRecords(benchFiles, vec(1, 1))
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		f := mustFolder(b, s, fmt.Sprint("bench", i))
		benchUpdateLocal(b, f, local)
		b.StartTimer()
		start := time.Now()
		for j := 0; j < len(recs); j += benchBatch {
			if err := f.UpdateRemote(devA, 1, j == 0, recs[j:j+benchBatch], int64(j+benchBatch)); err != nil {
				b.Fatal(err)
			}
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(benchFiles*b.N)/elapsed.Seconds(), "records/s")
}

// BenchmarkNeed lists 20,000 needed files (every local record is older than
// the remote one).
func BenchmarkNeed(b *testing.B) {
	s := openTest(b, b.TempDir())
	f := mustFolder(b, s, "bench")
	benchUpdateLocal(b, f, benchRecords(benchFiles, vec(1, 1)))
	recs := benchRecords(benchFiles, vec(1, 1, 2, 1))
	for j := 0; j < len(recs); j += benchBatch {
		if err := f.UpdateRemote(devA, 1, j == 0, recs[j:j+benchBatch], int64(j+benchBatch)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := f.Need(func(GlobalEntry, *LocalFile) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if n != benchFiles {
			b.Fatalf("Need visited %d", n)
		}
	}
	reportRecords(b, start, benchFiles)
}

// BenchmarkBlockLocations looks up one block hash among 40,000 blocks.
func BenchmarkBlockLocations(b *testing.B) {
	s := openTest(b, b.TempDir())
	f := mustFolder(b, s, "bench")
	recs := benchRecords(benchFiles, vec(1, 1))
	benchUpdateLocal(b, f, recs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := recs[i%benchFiles].Blocks[0].Hash
		found := false
		if err := f.BlockLocations(h, func(string, int64, int32) bool { found = true; return false }); err != nil || !found {
			b.Fatal(err, found)
		}
	}
}
