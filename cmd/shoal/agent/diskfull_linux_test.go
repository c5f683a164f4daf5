//go:build linux

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
)

// TestRealFullDisk runs the full-disk case on a real, small tmpfs (needs
// root; skipped otherwise): the pull stops with a folder error and no
// partial file, and resumes by itself once the file system is grown.
func TestRealFullDisk(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); TestDiskFullStopsAndResumes covers the logic", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
	a := startAgent(t, "a")
	b := startAgent(t, "b")
	// Put b's folder on the small file system.
	b.stop()
	b.dir = filepath.Join(mnt, "folder")
	if err := os.Mkdir(b.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b.start()
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i*31 + i>>9)
	}
	if err := os.WriteFile(filepath.Join(a.dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	pair(t, a, b)
	testutil.Eventually(t, 60*time.Second, func() error {
		if st := b.folder(); !strings.Contains(st.Error, "disk full") {
			return fmt.Errorf("folder error %q", st.Error)
		}
		return nil
	})
	ents, _ := os.ReadDir(b.dir)
	for _, e := range ents {
		if e.Name() != ".shoal" {
			t.Errorf("left in view on the full disk: %s", e.Name())
		}
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", syscall.MS_REMOUNT, "size=32m"); err != nil {
		t.Fatalf("growing the tmpfs: %v", err)
	}
	converged(t, 60*time.Second, a, b)
}
