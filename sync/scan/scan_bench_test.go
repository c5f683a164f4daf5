package scan

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/index"
)

func makeTree(tb testing.TB, root string, n int) {
	buf := make([]byte, 32<<10)
	rand.Read(buf)
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("e%02d", (i/50)%20))
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d.dat", i)), buf[:1024+(i*7919)%(31<<10)], 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

func openIndex(tb testing.TB) *index.Folder {
	key, err := identity.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := index.Open(tb.TempDir(), index.Options{Local: key.ID()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	f, err := st.Folder("bench")
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// BenchmarkScan20kFiles scans 20,000 new files of 1–32 KiB into an empty
// index, then rescans the unchanged tree.
func BenchmarkScan20kFiles(b *testing.B) {
	root := b.TempDir()
	makeTree(b, root, 20000)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		idx := openIndex(b)
		b.StartTimer()
		res, err := Scan(context.Background(), Options{Root: root, Index: idx, LocalID: 1}, nil)
		if err != nil || res.Changed < 20000 {
			b.Fatalf("scan: %d changed, %v", res.Changed, err)
		}
		b.StopTimer()
	}
}

func BenchmarkRescanUnchanged20k(b *testing.B) {
	root := b.TempDir()
	makeTree(b, root, 20000)
	idx := openIndex(b)
	if _, err := Scan(context.Background(), Options{Root: root, Index: idx, LocalID: 1}, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		res, err := Scan(context.Background(), Options{Root: root, Index: idx, LocalID: 1}, nil)
		if err != nil || res.Changed != 0 {
			b.Fatalf("rescan: %d changed, %v", res.Changed, err)
		}
	}
}
