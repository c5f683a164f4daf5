package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
)

// TestThreeAgentsConverge makes creates, edits, deletes, renames and
// directory changes on all three sides and checks every tree ends equal.
func TestThreeAgentsConverge(t *testing.T) {
	a, b, c := startAgent(t, "a"), startAgent(t, "b"), startAgent(t, "c")
	a.write("docs/readme.md", "# readme")
	a.write("docs/notes/todo.txt", "todo")
	b.write("photos/2026/beach.jpg", strings.Repeat("sand", 100000))
	c.write("name with spaces.txt", "spaces")
	c.write("ünïcödé/日本語.txt", "unicode")
	c.write("empty.txt", "")
	if err := os.Symlink("docs/readme.md", filepath.Join(a.dir, "link-to-readme")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(b.dir, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	pair(t, a, b, c)
	converged(t, 60*time.Second, a, b, c)

	// Edits, deletes and renames on all sides at once.
	a.write("docs/readme.md", "# readme v2")
	if err := os.Rename(filepath.Join(b.dir, "photos"), filepath.Join(b.dir, "pictures")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(c.dir, "empty.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(c.dir, "docs", "notes")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(a.dir, "name with spaces.txt"), filepath.Join(a.dir, "renamed.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(b.dir, "ünïcödé/日本語.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	converged(t, 60*time.Second, a, b, c)

	tr, _ := testutil.Tree(c.dir, false)
	for _, want := range []string{"pictures/2026/beach.jpg", "renamed.txt", "link-to-readme", "empty-dir"} {
		if _, ok := tr[want]; !ok {
			t.Errorf("missing %s after convergence: %v", want, tr)
		}
	}
	for _, gone := range []string{"photos", "empty.txt", "docs/notes", "name with spaces.txt"} {
		if _, ok := tr[gone]; ok {
			t.Errorf("%s still present after convergence", gone)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(c.dir, "docs/readme.md")); string(got) != "# readme v2" {
		t.Errorf("edit not propagated: %q", got)
	}
	if tr["link-to-readme"] != "link:docs/readme.md" {
		t.Errorf("symlink not synced as a link: %q", tr["link-to-readme"])
	}
}

// TestRenameSendsNoData moves a large file and a tree; the other side
// rebuilds them from local chunks without fetching file data.
func TestRenameSendsNoData(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	big := make([]byte, 8<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(a.dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	a.write("tree/x/1.txt", strings.Repeat("one", 30000))
	a.write("tree/y/2.txt", strings.Repeat("two", 30000))
	pair(t, a, b)
	converged(t, 60*time.Second, a, b)
	before := b.folder().PulledBytes

	if err := os.Rename(filepath.Join(a.dir, "big.bin"), filepath.Join(a.dir, "moved.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(a.dir, "tree"), filepath.Join(a.dir, "forest")); err != nil {
		t.Fatal(err)
	}
	converged(t, 60*time.Second, a, b)
	if got, _ := os.ReadFile(filepath.Join(b.dir, "moved.bin")); !bytes.Equal(got, big) {
		t.Fatal("moved file content differs")
	}
	if d := b.folder().PulledBytes - before; d != 0 {
		t.Fatalf("rename fetched %d bytes of file data from the peer, want 0", d)
	}
}

// TestConcurrentEditConflict edits one file on two agents while they are
// apart; both end with the same winner and the loser as a conflict copy.
func TestConcurrentEditConflict(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write("shared.txt", "original")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)

	// Separate them: b forgets a, so a cannot connect either.
	ctx := context.Background()
	if err := b.Model().RemoveDevice(ctx, a.ID().String()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, d := range mustDevices(t, a) {
			if d.Connected {
				return fmt.Errorf("still connected")
			}
		}
		return nil
	})
	a.write("shared.txt", "alice's edit")
	waitScanned(t, a, "shared.txt", "alice's edit")
	time.Sleep(1100 * time.Millisecond) // make bob's edit clearly later in mtime, so it wins by the documented rule
	b.write("shared.txt", "bob's edit, the later one")
	waitScanned(t, b, "shared.txt", "bob's edit, the later one")

	// Reconnect.
	reshare(t, b, a)
	converged(t, 60*time.Second, a, b)
	for _, ag := range []*testAgent{a, b} {
		got, _ := os.ReadFile(filepath.Join(ag.dir, "shared.txt"))
		if string(got) != "bob's edit, the later one" {
			t.Errorf("%s: winner content %q", ag.name, got)
		}
		matches, _ := filepath.Glob(filepath.Join(ag.dir, "shared.sync-conflict-*-"+a.ID().Short()+".txt"))
		if len(matches) != 1 {
			t.Fatalf("%s: want one conflict copy of alice's version, got %v", ag.name, matches)
		}
		if got, _ := os.ReadFile(matches[0]); string(got) != "alice's edit" {
			t.Errorf("%s: conflict copy holds %q", ag.name, got)
		}
	}
}

// TestManyLargeFilesInParallel pulls several multi-block files at once,
// more blocks in flight than one session serves concurrently; the puller
// must pace itself instead of failing files with BUSY answers.
func TestManyLargeFilesInParallel(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	buf := make([]byte, 12<<20)
	for i := range 8 {
		rand.Read(buf)
		if err := os.WriteFile(filepath.Join(a.dir, fmt.Sprintf("large%d.bin", i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pair(t, a, b)
	var errs []string
	testutil.Eventually(t, 60*time.Second, func() error {
		st := b.folder()
		for _, fe := range st.FileErrors {
			errs = append(errs, fe.Path+": "+fe.Error)
		}
		if st.LocalFiles != 8 || st.NeedFiles != 0 || st.State != "idle" {
			return fmt.Errorf("b has %d files, needs %d", st.LocalFiles, st.NeedFiles)
		}
		return nil
	})
	if len(errs) > 0 {
		t.Errorf("file errors while pulling: %v", errs[:min(3, len(errs))])
	}
	converged(t, 30*time.Second, a, b)
}
