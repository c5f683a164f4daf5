package versions

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestKeepThenReplace: Keep leaves the file in place and archives a copy
// that survives the file being renamed over.
func TestKeepThenReplace(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, ".shoal"), 0o700); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "f.txt")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	a := New(root)
	now := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)
	v, err := a.Keep("f.txt", now)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatal("Keep moved the file")
	}
	tmp := filepath.Join(root, ".shoal-tmp.f")
	if err := os.WriteFile(tmp, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(v.File); string(b) != "old" {
		t.Fatalf("archived copy holds %q", b)
	}
	if _, err := a.Keep("f.txt", now); err != nil { // same millisecond: a -1 suffix
		t.Fatal(err)
	}
	vs, err := a.List("f.txt")
	if err != nil || len(vs) != 2 {
		t.Fatalf("List: %v %v", vs, err)
	}
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Keep("d", now); err == nil {
		t.Fatal("Keep archived a directory")
	}
	if err := os.Symlink(root, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Keep("link/f.txt", now); err == nil {
		t.Fatal("Keep went through a symlinked parent")
	}
}
