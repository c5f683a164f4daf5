package versions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalsync/shoal/sync/fsutil"
)

var t0 = time.Date(2026, 11, 21, 13, 5, 1, 123_456_789, time.UTC)

// newFolder returns a folder root with its .shoal marker and its archive.
func newFolder(t *testing.T) (string, *Archive) {
	t.Helper()
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, fsutil.StateDir), 0o700); err != nil {
		t.Fatal(err)
	}
	return root, New(root)
}

// writeFile writes content at root/rel with mode and mtime, creating parents.
func writeFile(t *testing.T, root, rel, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	p := fsutil.Native(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// checkFile verifies content, mode and mtime of the regular file at p.
func checkFile(t *testing.T, p, content string, mode fs.FileMode, mtime time.Time) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want regular %v", p, fi.Mode(), mode)
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), mtime)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("%s: content %q, want %q", p, b, content)
	}
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists (err %v)", p, err)
	}
}

// tempFiles lists Shoal temporary files anywhere under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), fsutil.TempPrefix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestArchiveListPickRestore(t *testing.T) {
	names := []struct{ rel, archived string }{
		{"a.txt", "a~20261121-130501.123.txt"},
		{"dir/sub/report.pdf", "dir/sub/report~20261121-130501.123.pdf"},
		{".bashrc", ".bashrc~20261121-130501.123"},
		{"dir/Makefile", "dir/Makefile~20261121-130501.123"},
		{"x~20261121-130501.123", "x~20261121-130501~20261121-130501.123.123"},
		{"d~20250101-000000.000/weird~20250101-000000.000-1.txt", "d~20250101-000000.000/weird~20250101-000000.000-1~20261121-130501.123.txt"},
		{"archive.tar.gz", "archive.tar~20261121-130501.123.gz"},
		{"foo.", "foo~20261121-130501.123."},
		{"ü ñ/ß.tXt", "ü ñ/ß~20261121-130501.123.tXt"},
	}
	for _, n := range names {
		t.Run(n.rel, func(t *testing.T) {
			root, a := newFolder(t)
			m1 := time.Date(2020, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
			m2 := m1.Add(time.Hour)
			m3 := m2.Add(time.Hour)
			t1, t2, t3 := t0, t0.Add(90*time.Second), t0.Add(time.Hour)

			writeFile(t, root, n.rel, "one", 0o640, m1)
			v1, err := a.Archive(n.rel, t1)
			if err != nil {
				t.Fatal(err)
			}
			mustNotExist(t, fsutil.Native(root, n.rel))
			wantFile := filepath.Join(a.Dir(), filepath.FromSlash(n.archived))
			if v1.File != wantFile {
				t.Fatalf("archived as %s, want %s", v1.File, wantFile)
			}
			checkFile(t, v1.File, "one", 0o640, m1)
			if v1.Path != n.rel || !v1.ArchivedAt.Equal(t1.Truncate(time.Millisecond)) || !v1.ModTime.Equal(m1) || v1.Size != 3 {
				t.Fatalf("Version = %+v", v1)
			}

			writeFile(t, root, n.rel, "second", 0o600, m2)
			v2, err := a.Archive(n.rel, t2)
			if err != nil {
				t.Fatal(err)
			}
			vs, err := a.List(n.rel)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(vs, []Version{v2, v1}) {
				t.Fatalf("List = %+v, want [v2 v1]", vs)
			}
			if v, err := a.Pick(n.rel, time.Time{}); err != nil || v != v2 {
				t.Fatalf("Pick(newest) = %+v, %v", v, err)
			}
			if v, err := a.Pick(n.rel, t2.Add(-time.Millisecond)); err != nil || v != v1 {
				t.Fatalf("Pick(before t2) = %+v, %v", v, err)
			}
			if v, err := a.Pick(n.rel, v1.ArchivedAt); err != nil || v != v1 {
				t.Fatalf("Pick(exactly t1) = %+v, %v", v, err)
			}
			if _, err := a.Pick(n.rel, v1.ArchivedAt.Add(-time.Millisecond)); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Pick(before t1) err = %v, want ErrNotExist", err)
			}

			// Restore v1 over a current file: the current one is archived.
			writeFile(t, root, n.rel, "third", 0o644, m3)
			if err := a.Restore(v1, t3); err != nil {
				t.Fatal(err)
			}
			checkFile(t, fsutil.Native(root, n.rel), "one", 0o640, m1)
			checkFile(t, v1.File, "one", 0o640, m1) // archive keeps it
			vs, err = a.List(n.rel)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != 3 || vs[1] != v2 || vs[2] != v1 || !vs[0].ArchivedAt.Equal(t3.Truncate(time.Millisecond)) {
				t.Fatalf("List after restore = %+v", vs)
			}
			checkFile(t, vs[0].File, "third", 0o644, m3)

			// Restore v2 into a deleted directory tree.
			if dir := filepath.Dir(n.rel); dir != "." {
				if err := os.RemoveAll(fsutil.Native(root, strings.Split(n.rel, "/")[0])); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Remove(fsutil.Native(root, n.rel)); err != nil {
				t.Fatal(err)
			}
			if err := a.Restore(v2, t3.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			checkFile(t, fsutil.Native(root, n.rel), "second", 0o600, m2)
			if vs, _ := a.List(n.rel); len(vs) != 3 {
				t.Fatalf("restore into an empty place archived something: %+v", vs)
			}
			if tf := tempFiles(t, root); len(tf) > 0 {
				t.Fatalf("temporary files left: %v", tf)
			}
		})
	}
}

func TestSameMillisecond(t *testing.T) {
	root, a := newFolder(t)
	var want []Version
	for i := range 12 {
		writeFile(t, root, "d/f.txt", fmt.Sprint(i), 0o644, t0)
		v, err := a.Archive("d/f.txt", t0.Add(time.Duration(i)*time.Microsecond))
		if err != nil {
			t.Fatal(err)
		}
		want = append([]Version{v}, want...)
	}
	for i, suffix := range []string{"", "-1", "-2", "-10", "-11"} {
		p := filepath.Join(a.Dir(), "d", "f~20261121-130501.123"+suffix+".txt")
		n := []int{0, 1, 2, 10, 11}[i]
		checkFile(t, p, fmt.Sprint(n), 0o644, t0)
	}
	vs, err := a.List("d/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vs, want) {
		t.Fatalf("List = %+v\nwant %+v", vs, want)
	}
	v, err := a.Pick("d/f.txt", t0)
	if err != nil || v != want[0] {
		t.Fatalf("Pick = %+v, %v; want the last archived", v, err)
	}

	// A directory in the archive with the would-be name is skipped too.
	if err := os.Mkdir(filepath.Join(a.Dir(), "g~20261121-130501.123"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, "g", "g", 0o644, t0)
	v, err = a.Archive("g", t0)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(v.File) != "g~20261121-130501.123-1" {
		t.Fatalf("archived as %s", v.File)
	}
	if vs, err := a.List("g"); err != nil || len(vs) != 1 {
		t.Fatalf("List(g) = %+v, %v", vs, err)
	}
}

func TestSymlinks(t *testing.T) {
	root, a := newFolder(t)
	writeFile(t, root, "target.txt", "target", 0o644, t0)
	if err := os.Mkdir(filepath.Join(root, "realdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"link":         "target.txt",
		"sub/dangling": "../nowhere",
		"dirlink":      "realdir",
		"abs.lnk":      filepath.Join(root, "target.txt"),
	}
	for rel, target := range links {
		p := fsutil.Native(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		v, err := a.Archive(rel, t0)
		if err != nil {
			t.Fatal(err)
		}
		mustNotExist(t, p)
		if got, err := os.Readlink(v.File); err != nil || got != target {
			t.Fatalf("archived %s: Readlink = %q, %v", rel, got, err)
		}
		if v.Size != int64(len(target)) {
			t.Errorf("%s: Size %d, want %d", rel, v.Size, len(target))
		}
		// Restore over a regular file: that file is archived first.
		writeFile(t, root, rel, "current", 0o644, t0)
		if err := a.Restore(v, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(p); err != nil || got != target {
			t.Fatalf("restored %s: Readlink = %q, %v", rel, got, err)
		}
		vs, err := a.List(rel)
		if err != nil || len(vs) != 2 {
			t.Fatalf("List(%s) = %+v, %v", rel, vs, err)
		}
		checkFile(t, vs[0].File, "current", 0o644, t0)
	}
	checkFile(t, filepath.Join(root, "target.txt"), "target", 0o644, t0)
	if ents, _ := os.ReadDir(filepath.Join(root, "realdir")); len(ents) != 0 {
		t.Fatal("symlinked directory was followed")
	}
}

func TestRefusals(t *testing.T) {
	root, a := newFolder(t)
	writeFile(t, root, "dir/f.txt", "f", 0o644, t0)
	if err := os.Symlink("dir", filepath.Join(root, "ln")); err != nil {
		t.Fatal(err)
	}

	if _, err := a.Archive("dir", t0); !errors.Is(err, ErrIsDir) {
		t.Errorf("Archive(dir) err = %v, want ErrIsDir", err)
	}
	if _, err := a.Archive("ln/f.txt", t0); !errors.Is(err, fsutil.ErrSymlinkInPath) {
		t.Errorf("Archive(ln/f.txt) err = %v, want ErrSymlinkInPath", err)
	}
	for _, rel := range []string{"", ".", "/dir/f.txt", "../x", "dir/../dir/f.txt", "dir//f.txt", "dir/", ".shoal/versions/x", "d/.shoal-tmp.x"} {
		if _, err := a.Archive(rel, t0); err == nil {
			t.Errorf("Archive(%q) succeeded", rel)
		}
		if _, err := a.List(rel); err == nil {
			t.Errorf("List(%q) succeeded", rel)
		}
	}
	if _, err := a.Archive("missing", t0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Archive(missing) err = %v, want ErrNotExist", err)
	}
	checkFile(t, filepath.Join(root, "dir", "f.txt"), "f", 0o644, t0)
	if vs, err := a.List("dir/f.txt"); err != nil || len(vs) != 0 {
		t.Fatalf("List = %+v, %v", vs, err)
	}

	// Restore refuses a symlinked parent and a directory at the target.
	v, err := a.Archive("dir/f.txt", t0)
	if err != nil {
		t.Fatal(err)
	}
	lv := v
	lv.Path = "ln/f.txt"
	lv.File = filepath.Join(a.Dir(), "ln", filepath.Base(v.File))
	if err := os.MkdirAll(filepath.Dir(lv.File), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(v.File, lv.File); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(lv, t0); !errors.Is(err, fsutil.ErrSymlinkInPath) {
		t.Errorf("Restore through symlinked parent err = %v", err)
	}
	mustNotExist(t, filepath.Join(root, "dir", "f.txt"))
	if err := os.Mkdir(filepath.Join(root, "dir", "f.txt"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := a.Restore(v, t0); !errors.Is(err, ErrIsDir) {
		t.Errorf("Restore over a directory err = %v, want ErrIsDir", err)
	}
	if tf := tempFiles(t, root); len(tf) > 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
	// Forged versions: file outside the archive, or of another path.
	outside := filepath.Join(root, "a~20261121-130501.123.txt")
	writeFile(t, root, "a~20261121-130501.123.txt", "x", 0o644, t0)
	for _, fv := range []Version{
		{Path: "a.txt", File: outside},
		{Path: "other.txt", File: v.File},
		{Path: "dir/f.txt", File: filepath.Join(a.Dir(), "dir", "f.txt")},
	} {
		if err := a.Restore(fv, t0); err == nil {
			t.Errorf("Restore(%+v) succeeded", fv)
		}
	}
	// A symlinked archive directory is not used.
	if err := os.Rename(filepath.Join(a.Dir(), "dir"), filepath.Join(root, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "moved"), filepath.Join(a.Dir(), "dir")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.List("dir/f.txt"); !errors.Is(err, fsutil.ErrSymlinkInPath) {
		t.Errorf("List through symlinked archive dir err = %v", err)
	}
	os.Remove(filepath.Join(root, "dir", "f.txt"))
	writeFile(t, root, "dir/f.txt", "f2", 0o644, t0)
	if _, err := a.Archive("dir/f.txt", t0); !errors.Is(err, fsutil.ErrSymlinkInPath) {
		t.Errorf("Archive through symlinked archive dir err = %v", err)
	}
	checkFile(t, filepath.Join(root, "dir", "f.txt"), "f2", 0o644, t0)
}

func TestMissingMarker(t *testing.T) {
	root := t.TempDir()
	a := New(root)
	writeFile(t, root, "f", "f", 0o644, t0)
	if _, err := a.Archive("f", t0); err == nil {
		t.Fatal("Archive without .shoal succeeded")
	}
	mustNotExist(t, filepath.Join(root, fsutil.StateDir))
	checkFile(t, filepath.Join(root, "f"), "f", 0o644, t0)
	if vs, err := a.List("f"); err != nil || len(vs) != 0 {
		t.Fatalf("List = %+v, %v", vs, err)
	}
	if err := a.All(func(Version) error { return errors.New("called") }); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Clean(Policy{Type: "trash", KeepDays: 1}, t0); n != 0 || err != nil {
		t.Fatalf("Clean = %d, %v", n, err)
	}
}

// archiveAt archives fresh content for rel at time at.
func archiveAt(t *testing.T, root string, a *Archive, rel string, at time.Time) Version {
	t.Helper()
	writeFile(t, root, rel, at.String(), 0o644, at)
	v, err := a.Archive(rel, at)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func allVersions(t *testing.T, a *Archive) map[string]Version {
	t.Helper()
	m := make(map[string]Version)
	if err := a.All(func(v Version) error {
		m[v.File] = v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestAll(t *testing.T) {
	root, a := newFolder(t)
	want := make(map[string]Version)
	for i, rel := range []string{"a", "b/c.txt", "b/c.txt", "b/d/e.f", ".x"} {
		v := archiveAt(t, root, a, rel, t0.Add(time.Duration(i)*time.Second))
		want[v.File] = v
	}
	writeFile(t, root, ".shoal/versions/b/junk.txt", "junk", 0o644, t0)
	if !maps(allVersions(t, a), want) {
		t.Fatalf("All = %v\nwant %v", allVersions(t, a), want)
	}
	stop := errors.New("stop")
	n := 0
	if err := a.All(func(Version) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("All with failing fn: %v after %d calls", err, n)
	}
}

func maps(a, b map[string]Version) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCleanTrash(t *testing.T) {
	root, a := newFolder(t)
	now := t0.Truncate(time.Millisecond)
	archiveAt(t, root, a, "old/deep/x.txt", now.Add(-8*24*time.Hour))
	archiveAt(t, root, a, "old/y", now.Add(-7*24*time.Hour-time.Millisecond))
	keep := []Version{
		archiveAt(t, root, a, "old/y", now.Add(-7*24*time.Hour)), // exactly KeepDays: kept
		archiveAt(t, root, a, "new.txt", now.Add(-time.Minute)),
		archiveAt(t, root, a, "new.txt", now.Add(time.Minute)), // future
	}
	writeFile(t, root, ".shoal/versions/old/junk", "junk", 0o644, now.Add(-100*24*time.Hour))

	if n, err := a.Clean(Policy{Type: "off"}, now.Add(1000*24*time.Hour)); n != 0 || err != nil {
		t.Fatalf("Clean(off) = %d, %v", n, err)
	}
	if len(allVersions(t, a)) != 5 {
		t.Fatal("Clean(off) removed versions")
	}
	n, err := a.Clean(Policy{Type: "trash", KeepDays: 7}, now)
	if err != nil || n != 2 {
		t.Fatalf("Clean(trash) = %d, %v; want 2", n, err)
	}
	got := allVersions(t, a)
	if len(got) != len(keep) {
		t.Fatalf("after Clean: %v", got)
	}
	for _, v := range keep {
		if got[v.File] != v {
			t.Fatalf("after Clean %s missing", v.File)
		}
	}
	mustNotExist(t, filepath.Join(a.Dir(), "old", "deep"))
	checkFile(t, filepath.Join(a.Dir(), "old", "junk"), "junk", 0o644, now.Add(-100*24*time.Hour))
	if n, err := a.Clean(Policy{Type: "trash", KeepDays: 7}, now); n != 0 || err != nil {
		t.Fatalf("second Clean = %d, %v", n, err)
	}
	// Default KeepDays is 30; everything else goes, and the empty
	// directories with it, but not the archive itself.
	os.Remove(filepath.Join(a.Dir(), "old", "junk"))
	if n, err := a.Clean(Policy{Type: "trash"}, now.Add(30*24*time.Hour+time.Minute)); n != 2 || err != nil {
		t.Fatalf("Clean(default) = %d, %v; want 2", n, err)
	}
	ents, err := os.ReadDir(a.Dir())
	if err != nil || len(ents) != 1 {
		t.Fatalf("archive after full clean: %v, %v", ents, err)
	}
	if _, err := a.Clean(Policy{Type: "bogus"}, now); err == nil {
		t.Fatal("Clean(bogus) succeeded")
	}
	if _, err := a.Clean(Policy{Type: "trash", KeepDays: -1}, now); err == nil {
		t.Fatal("Clean(negative) succeeded")
	}
}

func TestCleanStaggered(t *testing.T) {
	root, a := newFolder(t)
	now := t0
	p := Policy{Type: "staggered", MaxAgeDays: 40}
	var times []time.Time
	// Versions of two paths every 5h17m over 50 days, plus a burst in
	// the last hour.
	for d := time.Duration(0); d < 50*24*time.Hour; d += 5*time.Hour + 17*time.Minute {
		times = append(times, now.Add(-d))
	}
	for i := range 6 {
		times = append(times, now.Add(-time.Duration(i)*7*time.Minute))
	}
	for _, rel := range []string{"a/f.txt", "g"} {
		for i, tm := range times {
			if i%20 == 0 {
				archiveAt(t, root, a, rel, tm)
				continue
			}
			// Most are planted directly: fsyncs are slow on CI.
			dir, base := path.Split(rel)
			writeFile(t, root, path.Join(archiveRel, dir, formatName(base, tm, 0)), "x", 0o644, tm)
		}
	}
	before := allVersions(t, a)
	n, err := a.Clean(p, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"a/f.txt", "g"} {
		vs, err := a.List(rel)
		if err != nil {
			t.Fatal(err)
		}
		var all []Version
		for _, v := range before {
			if v.Path == rel {
				all = append(all, v)
			}
		}
		slices.SortFunc(all, compareVersions)
		ts := make([]time.Time, len(all))
		for i, v := range all {
			ts[i] = v.ArchivedAt
		}
		var want []Version
		for i, k := range Thin(ts, now, 40*24*time.Hour) {
			if k {
				want = append([]Version{all[i]}, want...)
			}
		}
		if !slices.Equal(vs, want) {
			t.Fatalf("%s after Clean: %d versions, want %d", rel, len(vs), len(want))
		}
		kept := make([]time.Time, len(vs))
		for i, v := range vs {
			kept[i] = v.ArchivedAt
		}
		checkThin(t, kept, now, 40*24*time.Hour, Thin(kept, now, 40*24*time.Hour))
	}
	if n != len(before)-len(allVersions(t, a)) || n == 0 {
		t.Fatalf("Clean reported %d removed, %d before, %d after", n, len(before), len(allVersions(t, a)))
	}
	if n, err := a.Clean(p, now); n != 0 || err != nil {
		t.Fatalf("second Clean = %d, %v", n, err)
	}
	// Later cleanups keep the invariants on the real files too.
	for _, later := range []time.Duration{time.Hour, 25 * time.Hour, 9 * 24 * time.Hour} {
		if _, err := a.Clean(p, now.Add(later)); err != nil {
			t.Fatal(err)
		}
		vs, _ := a.List("g")
		kept := make([]time.Time, len(vs))
		for i, v := range vs {
			kept[i] = v.ArchivedAt
		}
		checkThin(t, kept, now.Add(later), 40*24*time.Hour, Thin(kept, now.Add(later), 40*24*time.Hour))
	}
}

// TestArchiveDuringClean archives into new directories while Clean (on
// another Archive of the same folder) keeps removing empty ones: every
// archive succeeds.
func TestArchiveDuringClean(t *testing.T) {
	root, a := newFolder(t)
	cleaner := New(root)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := cleaner.Clean(Policy{Type: "trash", KeepDays: 1}, t0); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 200 {
		rel := fmt.Sprintf("d%d/e/f.txt", i%3)
		writeFile(t, root, rel, "x", 0o644, t0)
		if _, err := a.Archive(rel, t0.Add(-2*24*time.Hour)); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
}
