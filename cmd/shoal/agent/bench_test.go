package agent

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/model"
)

// benchPull measures one pull between two in-process agents: populate
// fills A's folder, A scans it, then B joins and the timer runs until B is
// idle with everything. Use with -cpuprofile to see where a pull spends its
// time; the subprocess benchmarks in cmd/shoal are the reported figures.
func benchPull(b *testing.B, populate func(dir string) (files, bytes int64)) {
	for range b.N {
		b.StopTimer()
		a := startAgentB(b, "a")
		c := startAgentB(b, "b")
		files, size := populate(a.dir)
		ctx := context.Background()
		a.Model().AddDevice(ctx, model.AddDeviceRequest{ID: c.ID().String()})
		c.Model().AddDevice(ctx, model.AddDeviceRequest{ID: a.ID().String(), Addrs: a.Addrs()})
		a.Model().AddFolder(ctx, model.AddFolderRequest{Path: a.dir, ID: testFolder, Devices: []string{c.ID().String()}})
		idle := func(ta *testAgent) func() error {
			return func() error {
				st, _ := ta.Model().Folder(ctx, testFolder)
				if st.LocalFiles < files || st.LocalBytes != size || st.State != model.StateIdle {
					return fmt.Errorf("not there: %d files %d bytes %s", st.LocalFiles, st.LocalBytes, st.State)
				}
				return nil
			}
		}
		testutil.Eventually(b, 5*time.Minute, idle(a))
		b.StartTimer()
		c.Model().AddFolder(ctx, model.AddFolderRequest{Path: c.dir, ID: testFolder, Devices: []string{a.ID().String()}})
		testutil.Eventually(b, 5*time.Minute, idle(c))
		b.StopTimer()
		b.SetBytes(size)
		c.stop()
		a.stop()
	}
}

func BenchmarkPullBigFileInProcess(b *testing.B) {
	benchPull(b, func(dir string) (int64, int64) {
		data := make([]byte, 256<<20)
		rand.Read(data)
		os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644)
		return 1, int64(len(data))
	})
}

func BenchmarkPull5kFilesInProcess(b *testing.B) {
	benchPull(b, func(dir string) (int64, int64) {
		buf := make([]byte, 32<<10)
		rand.Read(buf)
		var total int64
		const n = 5000
		for i := range n {
			d := filepath.Join(dir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("e%02d", (i/50)%20))
			os.MkdirAll(d, 0o755)
			sz := 1024 + (i*7919)%(31<<10)
			buf[0] = byte(i)
			buf[1] = byte(i >> 8)
			os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.dat", i)), buf[:sz], 0o644)
			total += int64(sz)
		}
		return n, total
	})
}
