package identity

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreate(dir)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreate(dir)
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created=%v err=%v", created, err)
	}
	if k1.ID() != k2.ID() {
		t.Fatalf("ID changed across loads: %s vs %s", k1.ID(), k2.ID())
	}
}

func TestParseRoundTrip(t *testing.T) {
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	id := k.ID()
	s := id.String()
	if !strings.HasPrefix(s, "12D3KooW") {
		t.Fatalf("device ID %q lacks the Ed25519 peer-ID prefix", s)
	}
	got, err := Parse("  " + s + "\n")
	if err != nil || got != id {
		t.Fatalf("Parse(%q) = %v, %v", s, got, err)
	}
	if len(id.Short()) != 7 || !strings.Contains(s, id.Short()) {
		t.Fatalf("Short() = %q", id.Short())
	}
	if id.Uint64() == 0 {
		t.Fatal("Uint64 is zero")
	}
	for _, bad := range []string{"", "hello", s[:len(s)-1], "Qm" + s[2:], s + "x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	k, _ := Generate()
	f.Add(k.ID().String())
	f.Add("12D3KooW")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if again, err := Parse(id.String()); err != nil || again != id {
			t.Fatalf("round trip of %q failed", s)
		}
	})
}
