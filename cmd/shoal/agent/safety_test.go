package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/model"
)

// separate cuts b off from a (b forgets a), so both can change things
// without hearing of each other; rejoin puts them back together.
func separate(t *testing.T, a, b *testAgent) {
	t.Helper()
	if err := b.Model().RemoveDevice(context.Background(), a.ID().String()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, d := range mustDevices(t, a) {
			if d.ID == b.ID().String() && d.Connected {
				return fmt.Errorf("still connected")
			}
		}
		return nil
	})
}

func rejoin(t *testing.T, a, b *testAgent) { t.Helper(); reshare(t, b, a) }

func (ta *testAgent) read(rel string) string {
	ta.t.Helper()
	b, err := os.ReadFile(filepath.Join(ta.dir, filepath.FromSlash(rel)))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func (ta *testAgent) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(ta.dir, filepath.FromSlash(rel)))
	return err == nil
}

func (ta *testAgent) remove(rel string) {
	ta.t.Helper()
	if err := os.RemoveAll(filepath.Join(ta.dir, filepath.FromSlash(rel))); err != nil {
		ta.t.Fatal(err)
	}
}

// archived returns the contents of every version of rel in ta's archive.
func (ta *testAgent) archived(rel string) []string {
	ta.t.Helper()
	vs, err := ta.Model().Versions(context.Background(), testFolder, rel)
	if err != nil {
		ta.t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		// Read through the archive directory: the API gives the metadata.
		base := filepath.Base(rel)
		stem := strings.TrimSuffix(base, filepath.Ext(base))
		matches, _ := filepath.Glob(filepath.Join(ta.dir, ".shoal", "versions", filepath.FromSlash(filepath.Dir(rel)), stem+"~*"))
		for _, m := range matches {
			if fi, err := os.Lstat(m); err == nil && fi.Size() == v.Size && fi.ModTime().Equal(v.ModTime) {
				b, _ := os.ReadFile(m)
				out = append(out, string(b))
				break
			}
		}
	}
	return out
}

// scanned waits until ta's index has recorded the state of its disk at rel
// (present with this content, or gone).
func gone(t *testing.T, ta *testAgent, rel string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if ta.folder().State != model.StateIdle {
			return fmt.Errorf("busy")
		}
		if err := ta.Model().CheckScanned(testFolder, rel); err == nil {
			return fmt.Errorf("%s still recorded", rel)
		}
		return nil
	})
}

// TestModifyBeatsDelete: one device deletes a file while another edits it;
// the edit wins everywhere and comes back on the device that deleted it.
func TestModifyBeatsDelete(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write("f.txt", "base")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	separate(t, a, b)
	a.remove("f.txt")
	gone(t, a, "f.txt")
	b.write("f.txt", "edited while deleted elsewhere")
	waitScanned(t, b, "f.txt", "edited while deleted elsewhere")
	rejoin(t, a, b)
	converged(t, 60*time.Second, a, b)
	if got := a.read("f.txt"); got != "edited while deleted elsewhere" {
		t.Fatalf("a has %q, want the edit back", got)
	}
}

// TestNewFileInDeletedDirSurvives: a new file inside a directory another
// device deleted keeps the directory.
func TestNewFileInDeletedDirSurvives(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write("d/old.txt", "old")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	separate(t, a, b)
	a.remove("d")
	gone(t, a, "d/old.txt")
	b.write("d/new.txt", "new inside")
	waitScanned(t, b, "d/new.txt", "new inside")
	rejoin(t, a, b)
	converged(t, 60*time.Second, a, b)
	for _, ag := range []*testAgent{a, b} {
		if got := ag.read("d/new.txt"); got != "new inside" {
			t.Errorf("%s: d/new.txt = %q", ag.name, got)
		}
		if ag.exists("d/old.txt") {
			t.Errorf("%s: the deleted d/old.txt is back", ag.name)
		}
	}
	// b lost old.txt to a's deletion: it is in b's archive.
	if got := b.archived("d/old.txt"); !slices.Contains(got, "old") {
		t.Errorf("b's archive of d/old.txt holds %q", got)
	}
}

// TestRenameAgainstModify: one device renames a file while another edits
// it; the edit survives under the old name and the rename under the new
// one: nothing is lost.
func TestRenameAgainstModify(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write("x.txt", "original")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	separate(t, a, b)
	if err := os.Rename(filepath.Join(a.dir, "x.txt"), filepath.Join(a.dir, "y.txt")); err != nil {
		t.Fatal(err)
	}
	waitScanned(t, a, "y.txt", "original")
	gone(t, a, "x.txt")
	b.write("x.txt", "modified")
	waitScanned(t, b, "x.txt", "modified")
	rejoin(t, a, b)
	converged(t, 60*time.Second, a, b)
	for _, ag := range []*testAgent{a, b} {
		if ag.read("x.txt") != "modified" || ag.read("y.txt") != "original" {
			t.Errorf("%s: x.txt=%q y.txt=%q", ag.name, ag.read("x.txt"), ag.read("y.txt"))
		}
	}
}

// TestArchiveAndRestore: files sync replaces or deletes go to the archive,
// and a restore is a local change that syncs.
func TestArchiveAndRestore(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write("f.txt", "v1")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	time.Sleep(5 * time.Millisecond) // distinct archive timestamps (ms)
	a.write("f.txt", "version two")
	converged(t, 30*time.Second, a, b)
	a.remove("f.txt")
	converged(t, 30*time.Second, a, b)
	if b.exists("f.txt") {
		t.Fatal("f.txt still on b")
	}
	vs, err := b.Model().Versions(context.Background(), testFolder, "f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Size != int64(len("version two")) || vs[1].Size != 2 {
		t.Fatalf("b's versions of f.txt: %+v", vs)
	}
	if _, err := a.Model().Versions(context.Background(), testFolder, "../etc/passwd"); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("versions of a path outside the folder: %v", err)
	}
	// Restore the oldest on b: it comes back on both.
	if _, err := b.Model().RestoreVersion(context.Background(), testFolder, model.RestoreRequest{Path: "f.txt", At: vs[1].ArchivedAt}); err != nil {
		t.Fatal(err)
	}
	converged(t, 30*time.Second, a, b)
	if a.read("f.txt") != "v1" || b.read("f.txt") != "v1" {
		t.Fatalf("after restore: a %q, b %q", a.read("f.txt"), b.read("f.txt"))
	}
	if _, err := b.Model().RestoreVersion(context.Background(), testFolder, model.RestoreRequest{Path: "nothing.txt"}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("restoring a path with no versions: %v", err)
	}
}

// TestConflictCapAndList: conflict copies are listed, and beyond the cap
// the oldest go to the archive.
func TestConflictCapAndList(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	// Two older conflict copies already exist.
	a.write("n.sync-conflict-20200101-000000-AAAAAAA.txt", "old conflict 1")
	a.write("n.sync-conflict-20210101-000000-AAAAAAA.txt", "old conflict 2")
	a.write("n.txt", "base")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	two := 2
	for _, ag := range []*testAgent{a, b} {
		if _, err := ag.Model().UpdateFolder(context.Background(), testFolder, model.UpdateFolderRequest{MaxConflicts: &two}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := a.Model().Conflicts(context.Background(), "")
	if err != nil || len(cs) != 2 || cs[0].Original != "n.txt" {
		t.Fatalf("conflicts: %+v, %v", cs, err)
	}
	separate(t, a, b)
	a.write("n.txt", "a's edit")
	waitScanned(t, a, "n.txt", "a's edit")
	time.Sleep(1100 * time.Millisecond)
	b.write("n.txt", "b's later edit")
	waitScanned(t, b, "n.txt", "b's later edit")
	rejoin(t, a, b)
	converged(t, 60*time.Second, a, b)
	cs, err = b.Model().Conflicts(context.Background(), testFolder)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Fatalf("want the cap of 2 conflict copies, got %+v", cs)
	}
	if a.exists("n.sync-conflict-20200101-000000-AAAAAAA.txt") {
		t.Error("the oldest conflict copy was not retired")
	}
	if got := a.archived("n.sync-conflict-20200101-000000-AAAAAAA.txt"); !slices.Contains(got, "old conflict 1") {
		t.Errorf("the retired copy is not in a's archive: %q", got)
	}
}

// TestIgnoreRules: shared and local rules, live edits, and a directory
// kept for its ignored files.
func TestIgnoreRules(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write(".shoalignore", "*.log\nbuild/\n")
	a.write("keep.txt", "k")
	a.write("x.log", "a's log")
	a.write("build/out.bin", "binary")
	a.write("proj/a.txt", "in proj")
	b.write(".shoalignore.local", "private/\n")
	b.write("private/secret.txt", "mine")
	pair(t, a, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		if b.read("keep.txt") != "k" || b.read("proj/a.txt") != "in proj" || b.read(".shoalignore") != "*.log\nbuild/\n" {
			return fmt.Errorf("not synced yet")
		}
		return nil
	})
	b.write("proj/cache.log", "b's ignored cache")
	converged2 := func() {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, func() error {
			for _, ag := range []*testAgent{a, b} {
				if st := ag.folder(); st.NeedFiles != 0 || st.State != model.StateIdle {
					return fmt.Errorf("%s: %s, need %d", ag.name, st.State, st.NeedFiles)
				}
			}
			return nil
		})
	}
	converged2()
	if b.exists("x.log") || b.exists("build") {
		t.Error("ignored files reached b")
	}
	if a.exists("private") || a.exists(".shoalignore.local") {
		t.Error("b's locally ignored files reached a")
	}
	// a deletes proj: b keeps the directory for its ignored file.
	a.remove("proj")
	testutil.Eventually(t, 30*time.Second, func() error {
		if b.exists("proj/a.txt") {
			return fmt.Errorf("proj/a.txt still on b")
		}
		return nil
	})
	converged2()
	if b.read("proj/cache.log") != "b's ignored cache" {
		t.Error("sync deleted b's ignored file")
	}
	if a.exists("proj") {
		t.Error("proj came back on a")
	}
	// Edit the rules without a restart: logs are no longer ignored.
	a.write(".shoalignore", "build/\n")
	testutil.Eventually(t, 30*time.Second, func() error {
		if b.read("x.log") != "a's log" {
			return fmt.Errorf("x.log not synced after the rule was removed")
		}
		if a.read("proj/cache.log") != "b's ignored cache" {
			return fmt.Errorf("proj/cache.log not synced after the rule was removed")
		}
		return nil
	})
}

// TestSendOnlyOverride: a send-only folder does not take remote changes,
// shows them, and override makes every device match it.
func TestSendOnlyOverride(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write("f.txt", "master copy")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	mode := config.ModeSendOnly
	if _, err := a.Model().UpdateFolder(context.Background(), testFolder, model.UpdateFolderRequest{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	if err := b.Model().OverrideFolder(context.Background(), testFolder); !errors.Is(err, model.ErrInvalid) {
		t.Errorf("override of a send-receive folder: %v", err)
	}
	b.write("f.txt", "b's change")
	b.write("extra.txt", "new on b")
	testutil.Eventually(t, 30*time.Second, func() error {
		d, err := a.Model().Differences(context.Background(), testFolder)
		if err != nil || len(d) != 2 {
			return fmt.Errorf("differences %+v %v", d, err)
		}
		return nil
	})
	if a.read("f.txt") != "master copy" || a.exists("extra.txt") {
		t.Fatal("a send-only folder applied a remote change")
	}
	if err := a.Model().OverrideFolder(context.Background(), testFolder); err != nil {
		t.Fatal(err)
	}
	converged(t, 30*time.Second, a, b)
	if b.read("f.txt") != "master copy" || b.exists("extra.txt") {
		t.Fatalf("after override b has f.txt=%q extra=%v", b.read("f.txt"), b.exists("extra.txt"))
	}
	if got := b.archived("f.txt"); !slices.Contains(got, "b's change") {
		t.Errorf("b's overridden change is not in its archive: %q", got)
	}
}

// TestReceiveOnlyRevert: a receive-only folder keeps local changes to
// itself; revert archives them and puts the shared state back.
func TestReceiveOnlyRevert(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	a.write("f.txt", "shared")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	mode := config.ModeReceiveOnly
	if _, err := b.Model().UpdateFolder(context.Background(), testFolder, model.UpdateFolderRequest{Mode: &mode}); err != nil {
		t.Fatal(err)
	}
	b.write("f.txt", "local edit")
	b.write("mine.txt", "local file")
	waitScanned(t, b, "mine.txt", "local file")
	testutil.Eventually(t, 10*time.Second, func() error {
		d, err := b.Model().Differences(context.Background(), testFolder)
		if err != nil || len(d) != 2 {
			return fmt.Errorf("differences %+v %v", d, err)
		}
		return nil
	})
	// a still gets remote changes to b... but never b's local ones.
	a.write("g.txt", "from a")
	testutil.Eventually(t, 30*time.Second, func() error {
		if b.read("g.txt") != "from a" {
			return fmt.Errorf("g.txt not on b")
		}
		return nil
	})
	if a.read("f.txt") != "shared" || a.exists("mine.txt") {
		t.Fatal("a receive-only folder sent a local change")
	}
	if err := b.Model().RevertFolder(context.Background(), testFolder); err != nil {
		t.Fatal(err)
	}
	converged(t, 30*time.Second, a, b)
	if b.read("f.txt") != "shared" || b.exists("mine.txt") {
		t.Fatalf("after revert: f.txt=%q mine.txt=%v", b.read("f.txt"), b.exists("mine.txt"))
	}
	if got := b.archived("f.txt"); !slices.Contains(got, "local edit") {
		t.Errorf("the reverted edit is not in the archive: %q", got)
	}
	if got := b.archived("mine.txt"); !slices.Contains(got, "local file") {
		t.Errorf("the reverted new file is not in the archive: %q", got)
	}
}

// TestNamesOtherDevicesCannotHold: names Windows cannot hold are reported
// on a device that behaves like Windows, without failing the folder; names
// that differ only in case do not overwrite each other on a
// case-insensitive device.
func TestNamesOtherDevicesCannotHold(t *testing.T) {
	a := startAgent(t, "a")
	b := startAgentWith(t, "b", func(o *Options) { o.Model.WindowsNames = true; o.Model.CaseInsensitive = true })
	a.write("CON.txt", "reserved")
	a.write("what?.txt", "question")
	a.write("trailing.", "dot")
	a.write("README.md", "upper")
	a.write("readme.md", "lower")
	a.write("ok.txt", "fine")
	pair(t, a, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		st := b.folder()
		kinds := map[string]string{}
		for _, e := range st.FileErrors {
			kinds[e.Path] = e.Kind
		}
		for _, p := range []string{"CON.txt", "what?.txt", "trailing."} {
			if kinds[p] != model.FileErrorUnsupportedName {
				return fmt.Errorf("%s: kind %q (errors %+v)", p, kinds[p], st.FileErrors)
			}
		}
		n := 0
		for _, p := range []string{"README.md", "readme.md"} {
			if kinds[p] == model.FileErrorCaseCollision {
				n++
			}
		}
		if n != 1 || b.read("ok.txt") != "fine" {
			return fmt.Errorf("case collisions %d, ok.txt %q (errors %+v)", n, b.read("ok.txt"), st.FileErrors)
		}
		if st.Error != "" {
			return fmt.Errorf("folder error %q", st.Error)
		}
		return nil
	})
	for _, p := range []string{"CON.txt", "what?.txt", "trailing."} {
		if b.exists(p) {
			t.Errorf("%s was written on the Windows-like device", p)
		}
	}
	// Exactly one of the two spellings is on b, with its own content.
	up, low := b.exists("README.md"), b.exists("readme.md")
	if up == low {
		t.Fatalf("README.md %v, readme.md %v: want exactly one", up, low)
	}
	if up && b.read("README.md") != "upper" || low && b.read("readme.md") != "lower" {
		t.Error("a case twin overwrote the other")
	}
	// a is not disturbed.
	if a.read("README.md") != "upper" || a.read("readme.md") != "lower" {
		t.Error("a lost a file")
	}
}

// TestNFDNamesAreNFC: a decomposed name on disk is the same file as its
// composed spelling and syncs under it.
func TestNFDNamesAreNFC(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	nfd, nfc := "cafe\u0301.txt", "caf\u00e9.txt"
	a.write(nfd, "accent")
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	if b.read(nfc) != "accent" || !a.exists(nfc) || a.exists(nfd) {
		t.Fatalf("b NFC %q; a NFC %v NFD %v", b.read(nfc), a.exists(nfc), a.exists(nfd))
	}
}

// TestDiskFullStopsAndResumes: a full disk stops the pull with a folder
// error and no partial file in view; the pull resumes by itself when
// space returns.
func TestDiskFullStopsAndResumes(t *testing.T) {
	var full atomic.Bool
	full.Store(true)
	a := startAgent(t, "a")
	b := startAgentWith(t, "b", func(o *Options) {
		o.Model.WriteFault = func(folder, name string) error {
			if full.Load() {
				return syscall.ENOSPC
			}
			return nil
		}
	})
	a.write("big.bin", strings.Repeat("0123456789abcdef", 64<<10)) // 1 MiB
	a.write("small.txt", "s")
	pair(t, a, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		st := b.folder()
		if !strings.Contains(st.Error, "disk full") {
			return fmt.Errorf("folder error %q", st.Error)
		}
		return nil
	})
	tr, err := testutil.Tree(b.dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for p := range tr {
		if strings.Contains(p, ".shoal-tmp.") || p == "big.bin" {
			t.Errorf("partial file in view: %s", p)
		}
	}
	full.Store(false)
	converged(t, 30*time.Second, a, b)
	if st := b.folder(); st.Error != "" {
		t.Errorf("folder error after space returned: %q", st.Error)
	}
}

// TestSymlinksNeverFollowed: a symlink to a directory outside the folder
// syncs as a link; neither the scanner nor the puller goes through it.
func TestSymlinksNeverFollowed(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, b := startAgent(t, "a"), startAgent(t, "b")
	if err := os.Symlink(outside, filepath.Join(a.dir, "out")); err != nil {
		t.Fatal(err)
	}
	a.write("mode.sh", "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(a.dir, "mode.sh"), 0o751); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2024, 2, 29, 12, 34, 56, 123456789, time.UTC)
	if err := os.Chtimes(filepath.Join(a.dir, "mode.sh"), mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(a.dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	pair(t, a, b)
	converged(t, 30*time.Second, a, b)
	target, err := os.Readlink(filepath.Join(b.dir, "out"))
	if err != nil || target != outside {
		t.Fatalf("b's out: %q, %v", target, err)
	}
	if b.exists("out/secret") && !strings.HasPrefix(outside, b.dir) {
		// Reading through the link is fine; a record of it is not.
		if err := a.Model().CheckScanned(testFolder, "out/secret"); err == nil {
			t.Error("the scanner followed a symlink")
		}
	}
	fi, err := os.Stat(filepath.Join(b.dir, "mode.sh"))
	if err != nil || fi.Mode().Perm() != 0o751 || !fi.ModTime().Equal(mt) {
		t.Errorf("mode.sh on b: %v %v %v", fi.Mode(), fi.ModTime(), err)
	}
	if fi, err := os.Stat(filepath.Join(b.dir, "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory on b: %v", err)
	}
}

// TestChangeWhileSendingNeverTorn: the source file is rewritten while a
// peer is in the middle of pulling it. The peer never installs a mix of
// the two versions: blocks that no longer match are refused, and the new
// version is pulled once the source has scanned it.
func TestChangeWhileSendingNeverTorn(t *testing.T) {
	gate := make(chan struct{})
	var paused atomic.Bool
	a := startAgent(t, "a")
	b := startAgentWith(t, "b", func(o *Options) {
		o.Model.WriteFault = func(folder, name string) error {
			if name == "big.bin" {
				paused.Store(true)
				<-gate // hold every block write until the source changed
			}
			return nil
		}
	})
	const size = 8 << 20
	rng := rand.New(rand.NewPCG(1, 2))
	old := make([]byte, size)
	for i := range old {
		old[i] = byte(rng.Uint32())
	}
	if err := os.WriteFile(filepath.Join(a.dir, "big.bin"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	pair(t, a, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		if !paused.Load() {
			return fmt.Errorf("b has not started writing big.bin")
		}
		return nil
	})
	// Rewrite the source in place while b holds fetched blocks.
	fresh := make([]byte, size)
	for i := range fresh {
		fresh[i] = byte(rng.Uint32())
	}
	fd, err := os.OpenFile(filepath.Join(a.dir, "big.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fd.WriteAt(fresh, 0); err != nil {
		t.Fatal(err)
	}
	fd.Close()
	close(gate)
	converged(t, 60*time.Second, a, b)
	got, err := os.ReadFile(filepath.Join(b.dir, "big.bin"))
	if err != nil || string(got) != string(fresh) {
		t.Fatalf("b's big.bin is not the new version (%d bytes, %v)", len(got), err)
	}
}

// TestIgnoredFilesStayPut: a directory holding ignored files is neither
// moved aside nor deleted when another device puts a file at its path, so
// the ignored files never travel; and ignore files that cannot be loaded
// at start stop the folder instead of syncing what they protect.
func TestIgnoredFilesStayPut(t *testing.T) {
	a, b := startAgent(t, "a"), startAgent(t, "b")
	b.write(".shoalignore.local", "/cfg/secret.key\n")
	b.write("cfg/secret.key", "b's key")
	b.write("cfg/shared.conf", "shared")
	pair(t, a, b)
	testutil.Eventually(t, 30*time.Second, func() error {
		if a.read("cfg/shared.conf") != "shared" {
			return fmt.Errorf("not synced yet")
		}
		return nil
	})
	a.remove("cfg")
	a.write("cfg", "a file now")
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, e := range b.folder().FileErrors {
			if e.Path == "cfg" && e.Kind == model.FileErrorIgnored {
				return nil
			}
		}
		return fmt.Errorf("b reports no protected directory: %+v", b.folder().FileErrors)
	})
	if b.read("cfg/secret.key") != "b's key" {
		t.Error("b's ignored file was moved or deleted")
	}
	matches, _ := filepath.Glob(filepath.Join(a.dir, "cfg*", "secret.key"))
	if len(matches) > 0 {
		t.Errorf("b's ignored file reached a: %v", matches)
	}

	// A symlinked .shoalignore.local cannot be loaded: c's folder stops
	// rather than sending the file it lists.
	c := startAgent(t, "c")
	rules := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(rules, []byte("private.txt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(rules, filepath.Join(c.dir, ".shoalignore.local")); err != nil {
		t.Fatal(err)
	}
	c.write("private.txt", "not for anyone")
	d := startAgent(t, "d")
	pair(t, c, d)
	testutil.Eventually(t, 30*time.Second, func() error {
		if st := c.folder(); !strings.Contains(st.Error, "ignore rules cannot be loaded") {
			return fmt.Errorf("c's folder error %q", st.Error)
		}
		return nil
	})
	if d.exists("private.txt") {
		t.Fatal("a file listed in unreadable ignore rules was sent")
	}
}
