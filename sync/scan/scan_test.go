package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func scanAll(t *testing.T, root string, o Options) Result {
	t.Helper()
	o.Root = root
	o.LocalID = 7
	res, err := Scan(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestScanDetectsChanges(t *testing.T) {
	root := t.TempDir()
	idx := openIndex(t)
	os.MkdirAll(filepath.Join(root, "a/b"), 0o755)
	os.WriteFile(filepath.Join(root, "a/b/file.txt"), []byte("one"), 0o644)
	os.WriteFile(filepath.Join(root, "empty"), nil, 0o644)
	os.Symlink("a/b/file.txt", filepath.Join(root, "link"))
	os.MkdirAll(filepath.Join(root, ".shoal"), 0o700)
	os.WriteFile(filepath.Join(root, ".shoal-tmp.x.1234"), []byte("temp"), 0o600)

	res := scanAll(t, root, Options{Index: idx})
	if res.Changed != 5 { // a, a/b, a/b/file.txt, empty, link
		t.Fatalf("first scan recorded %d changes, want 5", res.Changed)
	}
	if _, ok, _ := idx.Local(".shoal-tmp.x.1234"); ok {
		t.Fatal("temporary file was indexed")
	}

	// Unchanged: nothing recorded, nothing hashed.
	if res := scanAll(t, root, Options{Index: idx}); res.Changed != 0 || res.Hashed != 0 {
		t.Fatalf("rescan of an unchanged tree: %+v", res)
	}

	// A retargeted symlink and an edited file are changes.
	os.Remove(filepath.Join(root, "link"))
	os.Symlink("empty", filepath.Join(root, "link"))
	os.WriteFile(filepath.Join(root, "a/b/file.txt"), []byte("two!"), 0o644)
	if res := scanAll(t, root, Options{Index: idx}); res.Changed != 2 {
		t.Fatalf("retarget + edit recorded %d changes, want 2", res.Changed)
	}
	lf, _, _ := idx.Local("link")
	if lf.Info.SymlinkTarget != "empty" {
		t.Fatalf("symlink target %q", lf.Info.SymlinkTarget)
	}

	// Deleting a directory records its contents and itself as deleted.
	os.RemoveAll(filepath.Join(root, "a"))
	if res := scanAll(t, root, Options{Index: idx}); res.Changed != 3 {
		t.Fatalf("deleting a tree recorded %d changes, want 3", res.Changed)
	}
	lf, _, _ = idx.Local("a/b/file.txt")
	if !lf.Info.Deleted {
		t.Fatal("deleted file not recorded as deleted")
	}
}

// TestScanDeletionsVetoed: when the folder's check fails (its marker
// vanished: an unmounted drive), missing files are not recorded as deleted.
func TestScanDeletionsVetoed(t *testing.T) {
	root := t.TempDir()
	idx := openIndex(t)
	os.WriteFile(filepath.Join(root, "keep.txt"), []byte("data"), 0o644)
	scanAll(t, root, Options{Index: idx})
	os.Remove(filepath.Join(root, "keep.txt"))
	veto := errors.New("marker missing")
	_, err := Scan(context.Background(), Options{Root: root, Index: idx, LocalID: 7, BeforeDeletions: func() error { return veto }}, nil)
	if !errors.Is(err, veto) {
		t.Fatalf("scan error %v, want the veto", err)
	}
	lf, _, _ := idx.Local("keep.txt")
	if lf.Info.Deleted {
		t.Fatal("deletion recorded although the folder check failed")
	}
}

// TestScanKeepsVersionWhenOnlyInodeChanges: a file rewritten with the same
// content and mtime keeps its version.
func TestScanKeepsVersionWhenOnlyInodeChanges(t *testing.T) {
	root := t.TempDir()
	idx := openIndex(t)
	p := filepath.Join(root, "f")
	os.WriteFile(p, []byte("same"), 0o644)
	mt := time.Unix(1700000000, 0)
	os.Chtimes(p, mt, mt)
	scanAll(t, root, Options{Index: idx})
	before, _, _ := idx.Local("f")
	os.Remove(p)
	os.WriteFile(p, []byte("same"), 0o644)
	os.Chtimes(p, mt, mt)
	scanAll(t, root, Options{Index: idx})
	after, _, _ := idx.Local("f")
	if after.Info.Version.String() != before.Info.Version.String() {
		t.Fatalf("version changed: %v -> %v", before.Info.Version, after.Info.Version)
	}
}
