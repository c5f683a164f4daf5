package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
)

// Macro benchmarks: two `shoal run` subprocesses on this machine, paired
// over loopback, as in docs/benchmarks.md. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./cmd/shoal/
//
// Each reports its own metrics; ns/op is the whole iteration including
// setup and is not the figure of interest.

type pairEnv struct {
	homeA, homeB string
	dirA, dirB   string
	a, b         *proc
	idA, idB     string
}

// newPair starts A with a folder and B without it; call b.share() to make B
// join (and start pulling).
func newPair(tb testing.TB) *pairEnv { return newPairOver(tb, "quic") }

// newPairOver is newPair with B dialling A over the given transport
// ("quic" or "tcp").
func newPairOver(tb testing.TB, transport string) *pairEnv {
	base := tb.TempDir()
	e := &pairEnv{homeA: filepath.Join(base, "a"), homeB: filepath.Join(base, "b"), dirA: filepath.Join(base, "A"), dirB: filepath.Join(base, "B")}
	os.MkdirAll(e.dirA, 0o755)
	os.MkdirAll(e.dirB, 0o755)
	e.idA = strings.TrimSpace(mustShoal(tb, e.homeA, "id"))
	e.idB = strings.TrimSpace(mustShoal(tb, e.homeB, "id"))
	e.a = startProc(tb, e.homeA)
	e.b = startProc(tb, e.homeB)
	marker := "/quic-v1/"
	if transport == "tcp" {
		marker = "/tcp/"
	}
	var addrA string
	for _, a := range statusOf(tb, e.homeA).ListenAddrs {
		if strings.Contains(a, marker) {
			addrA = a
		}
	}
	mustShoal(tb, e.homeA, "device", "add", e.idB)
	mustShoal(tb, e.homeB, "device", "add", e.idA, "--addr", addrA)
	return e
}

func (e *pairEnv) shareA(tb testing.TB) {
	mustShoal(tb, e.homeA, "folder", "add", e.dirA, "--id", "bench", "--share", e.idB)
}

func (e *pairEnv) shareB(tb testing.TB) {
	mustShoal(tb, e.homeB, "folder", "add", e.dirB, "--id", "bench", "--share", e.idA)
}

// waitIdle waits until the folder on p has no needs, holds files files and
// is idle.
func waitIdle(tb testing.TB, p *proc, files int64, timeout time.Duration) {
	testutil.Eventually(tb, timeout, func() error {
		fs, err := p.client().Folders(context.Background())
		if err != nil || len(fs) != 1 {
			return fmt.Errorf("folders: %v", err)
		}
		f := fs[0]
		if f.State != "idle" || f.NeedFiles != 0 || f.LocalFiles < files {
			return fmt.Errorf("state %s, need %d, local files %d of %d", f.State, f.NeedFiles, f.LocalFiles, files)
		}
		return nil
	})
}

// peakRSS returns the process's peak resident set size in MiB.
func peakRSS(p *proc) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (e *pairEnv) reportRSS(b *testing.B) {
	b.ReportMetric(peakRSS(e.a), "peakRSS-A-MiB")
	b.ReportMetric(peakRSS(e.b), "peakRSS-B-MiB")
}

func (e *pairEnv) pulled(tb testing.TB) int64 {
	fs, err := e.b.client().Folders(context.Background())
	if err != nil || len(fs) != 1 {
		tb.Fatalf("folders: %v", err)
	}
	return fs[0].PulledBytes
}

// BenchmarkSync1GiB: B pulls one 1 GiB file that A has already scanned,
// over QUIC (the default) and, for comparison, over TCP.
func BenchmarkSync1GiB(b *testing.B) {
	b.Run("quic", func(b *testing.B) { benchSync1GiB(b, "quic") })
	b.Run("tcp", func(b *testing.B) { benchSync1GiB(b, "tcp") })
}

func benchSync1GiB(b *testing.B, transport string) {
	for range b.N {
		e := newPairOver(b, transport)
		f, err := os.Create(filepath.Join(e.dirA, "one.bin"))
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 4<<20)
		for range 256 {
			rand.Read(buf)
			f.Write(buf)
		}
		f.Close()
		start := time.Now()
		e.shareA(b)
		waitIdle(b, e.a, 1, 5*time.Minute)
		scan := time.Since(start)
		start = time.Now()
		e.shareB(b)
		waitIdle(b, e.b, 1, 5*time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "sync-s")
		b.ReportMetric(scan.Seconds(), "scanA-s")
		e.reportRSS(b)
	}
}

// BenchmarkSync20kFiles: B pulls 20,000 files of 1–32 KiB in nested
// directories that A has already scanned.
func BenchmarkSync20kFiles(b *testing.B) {
	for range b.N {
		e := newPair(b)
		const n = 20000
		buf := make([]byte, 32<<10)
		for i := range n {
			d := filepath.Join(e.dirA, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("e%02d", (i/50)%20))
			os.MkdirAll(d, 0o755)
			sz, _ := rand.Int(rand.Reader, big.NewInt(31<<10))
			rand.Read(buf)
			os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.dat", i)), buf[:1024+sz.Int64()], 0o644)
		}
		start := time.Now()
		e.shareA(b)
		waitIdle(b, e.a, n, 5*time.Minute)
		scan := time.Since(start)
		start = time.Now()
		e.shareB(b)
		waitIdle(b, e.b, n, 5*time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "sync-s")
		b.ReportMetric(scan.Seconds(), "scanA-s")
		e.reportRSS(b)
	}
}

// BenchmarkEditLatency: the time from a 4 KiB edit on A to the new content
// on B, over repeated edits.
func BenchmarkEditLatency(b *testing.B) {
	for range b.N {
		e := newPair(b)
		os.WriteFile(filepath.Join(e.dirA, "edit.txt"), []byte("start"), 0o644)
		e.shareA(b)
		e.shareB(b)
		waitIdle(b, e.b, 1, time.Minute)
		var lat []time.Duration
		content := make([]byte, 4096)
		for i := range 40 {
			rand.Read(content)
			copy(content, fmt.Sprintf("edit %d ", i))
			start := time.Now()
			if err := os.WriteFile(filepath.Join(e.dirA, "edit.txt"), content, 0o644); err != nil {
				b.Fatal(err)
			}
			deadline := start.Add(30 * time.Second)
			for {
				got, _ := os.ReadFile(filepath.Join(e.dirB, "edit.txt"))
				if bytes.Equal(got, content) {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("edit %d did not arrive", i)
				}
				time.Sleep(time.Millisecond)
			}
			lat = append(lat, time.Since(start))
			time.Sleep(200 * time.Millisecond) // let both sides settle before the next edit
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
		e.reportRSS(b)
	}
}

// BenchmarkInsertOneByte: bytes B fetches after one byte is inserted near
// the start of a 256 MiB file both already have.
func BenchmarkInsertOneByte(b *testing.B) {
	for range b.N {
		e := newPair(b)
		data := make([]byte, 256<<20)
		rand.Read(data)
		p := filepath.Join(e.dirA, "big.bin")
		os.WriteFile(p, data, 0o644)
		e.shareA(b)
		e.shareB(b)
		waitIdle(b, e.b, 1, 5*time.Minute)
		before := e.pulled(b)
		wireBefore := e.wireIn(b)
		edited := slices.Concat(data[:1000], []byte{'!'}, data[1000:])
		if err := os.WriteFile(p, edited, 0o644); err != nil {
			b.Fatal(err)
		}
		testutil.Eventually(b, 2*time.Minute, func() error {
			got, err := os.ReadFile(filepath.Join(e.dirB, "big.bin"))
			if err != nil || !bytes.Equal(got, edited) {
				return fmt.Errorf("not there yet")
			}
			return nil
		})
		waitIdle(b, e.b, 1, time.Minute)
		b.ReportMetric(float64(e.pulled(b)-before)/1024, "blockKiB")
		if w := e.wireIn(b); w >= 0 {
			b.ReportMetric(float64(w-wireBefore)/1024, "wireKiB")
		}
		e.reportRSS(b)
	}
}

// wireIn returns the bytes B has received from A on the session, or -1
// when the transport does not report it.
func (e *pairEnv) wireIn(tb testing.TB) int64 {
	st := statusOf(tb, e.homeB)
	for _, d := range st.Devices {
		if d.ID == e.idA {
			return d.BytesIn
		}
	}
	return -1
}
