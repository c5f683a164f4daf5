package agent

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/model"
)

func TestTwoAgentsSync(t *testing.T) {
	a := startAgent(t, "alice")
	b := startAgent(t, "bob")
	a.write("hello.txt", "hello from alice")
	a.write("dir/sub/deep.txt", "deep")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)

	b.write("from-bob.txt", "bob was here")
	converged(t, 30*time.Second, a, b)
	if err := os.Remove(filepath.Join(a.dir, "hello.txt")); err != nil {
		t.Fatal(err)
	}
	converged(t, 30*time.Second, a, b)
	if _, err := os.Stat(filepath.Join(b.dir, "hello.txt")); !os.IsNotExist(err) {
		t.Fatalf("delete did not propagate: %v", err)
	}
}

// TestFolderAddedLaterSyncsBothWays: a shares a folder while connected to
// b, and b adds its side only afterwards (the usual order when accepting
// a share). Changes must flow both ways: b starts sending its index even
// though a's offer arrived before b had the folder.
func TestFolderAddedLaterSyncsBothWays(t *testing.T) {
	var blog syncBuffer
	a := startAgent(t, "a")
	b := startAgentWith(t, "b", func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&blog, nil)) })
	ctx := context.Background()
	if _, err := a.Model().AddDevice(ctx, model.AddDeviceRequest{ID: b.ID().String(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Model().AddDevice(ctx, model.AddDeviceRequest{ID: a.ID().String(), Addrs: a.Addrs()}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, d := range mustDevices(t, b) {
			if !d.Connected {
				return fmt.Errorf("not connected")
			}
		}
		return nil
	})
	if _, err := a.Model().AddFolder(ctx, model.AddFolderRequest{Path: a.dir, ID: testFolder, Devices: []string{b.ID().String()}}); err != nil {
		t.Fatal(err)
	}
	// Wait until b has seen the offer, before it has the folder.
	testutil.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(blog.String(), "offers a folder this device does not have") {
			return fmt.Errorf("b has not seen a's offer")
		}
		return nil
	})
	if _, err := b.Model().AddFolder(ctx, model.AddFolderRequest{Path: b.dir, ID: testFolder, Devices: []string{a.ID().String()}}); err != nil {
		t.Fatal(err)
	}
	a.write("from-a.txt", "a")
	b.write("from-b.txt", "b")
	converged(t, 30*time.Second, a, b)
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
