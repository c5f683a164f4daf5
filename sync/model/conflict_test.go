package model

import (
	"testing"
	"time"
)

func TestConflictNameRoundTrip(t *testing.T) {
	at := time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC)
	for _, tc := range []struct{ name, want string }{
		{"notes.txt", "notes.sync-conflict-20240305-140709-AbCdEfG.txt"},
		{"dir/a.tar.gz", "dir/a.tar.sync-conflict-20240305-140709-AbCdEfG.gz"},
		{".bashrc", ".bashrc.sync-conflict-20240305-140709-AbCdEfG"},
		{"Makefile", "Makefile.sync-conflict-20240305-140709-AbCdEfG"},
		{"a/b.sync-conflict-x.txt", "a/b.sync-conflict-x.sync-conflict-20240305-140709-AbCdEfG.txt"},
	} {
		got := ConflictName(tc.name, at, "AbCdEfG")
		if got != tc.want {
			t.Errorf("ConflictName(%q) = %q, want %q", tc.name, got, tc.want)
		}
		for i := range 3 {
			c := conflictName(tc.name, at, "AbCdEfG", i)
			orig, tt, dev, ok := ParseConflictName(c)
			if !ok || orig != tc.name || !tt.Equal(at) || dev != "AbCdEfG" {
				t.Errorf("ParseConflictName(%q) = %q %v %q %v", c, orig, tt, dev, ok)
			}
		}
	}
	for _, n := range []string{"plain.txt", "x.sync-conflict-2024-1.txt", "x.sync-conflict-20240305-140709-.txt", ".sync-conflict-20240305-140709-A"} {
		if _, _, _, ok := ParseConflictName(n); ok {
			t.Errorf("ParseConflictName(%q) accepted a non-conflict name", n)
		}
	}
}

// FuzzParseConflictName: names come from peers; parsing never panics and
// what it accepts formats back to the same name.
func FuzzParseConflictName(f *testing.F) {
	f.Add("notes.sync-conflict-20240305-140709-AbCdEfG.txt")
	f.Add("d/.bashrc.sync-conflict-20240305-140709-AbCdEfG-2")
	f.Add("x.sync-conflict-99999999-999999-Z.")
	f.Fuzz(func(t *testing.T, name string) {
		orig, at, dev, ok := ParseConflictName(name)
		if !ok {
			return
		}
		if orig == "" || dev == "" {
			t.Fatalf("accepted %q with empty parts", name)
		}
		if c := ConflictName(orig, at, dev); c != name {
			if _, _, _, ok := ParseConflictName(c); !ok {
				t.Fatalf("ConflictName(%q) = %q does not parse back", orig, c)
			}
		}
	})
}
