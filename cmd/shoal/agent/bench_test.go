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

// BenchmarkPullInProcess pulls one 256 MiB file between two in-process
// agents; use it with -cpuprofile to see where a pull spends its time.
func BenchmarkPullInProcess(b *testing.B) {
	for range b.N {
		b.StopTimer()
		a := startAgentB(b, "a")
		c := startAgentB(b, "b")
		data := make([]byte, 256<<20)
		rand.Read(data)
		os.WriteFile(filepath.Join(a.dir, "big.bin"), data, 0o644)
		ctx := context.Background()
		a.Model().AddDevice(ctx, model.AddDeviceRequest{ID: c.ID().String()})
		c.Model().AddDevice(ctx, model.AddDeviceRequest{ID: a.ID().String(), Addrs: a.Addrs()})
		a.Model().AddFolder(ctx, model.AddFolderRequest{Path: a.dir, ID: testFolder, Devices: []string{c.ID().String()}})
		testutil.Eventually(b, time.Minute, func() error {
			st, _ := a.Model().Folder(ctx, testFolder)
			if st.LocalBytes != int64(len(data)) || st.State != model.StateIdle {
				return fmt.Errorf("scanning")
			}
			return nil
		})
		b.StartTimer()
		c.Model().AddFolder(ctx, model.AddFolderRequest{Path: c.dir, ID: testFolder, Devices: []string{a.ID().String()}})
		testutil.Eventually(b, 5*time.Minute, func() error {
			st, _ := c.Model().Folder(ctx, testFolder)
			if st.LocalBytes != int64(len(data)) || st.State != model.StateIdle {
				return fmt.Errorf("pulling")
			}
			return nil
		})
		b.StopTimer()
		b.SetBytes(int64(len(data)))
	}
}
