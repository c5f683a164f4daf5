package index

import (
	"testing"
)

// TestDropLocal: dropping a local record makes the other devices' version
// the global one again, and the name needed; the chunk map and counts
// forget the dropped record.
func TestDropLocal(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustRemote(t, f, devA, true, file("shared", vec(2, 1), 1, "r"))
	local := file("shared", vec(1, 5, 2, 1), 2, "mine")
	local.LocalFlags = 1
	mustLocal(t, f, local, file("new", vec(1, 1), 1, "n"))
	if c, _ := f.Counts(); c.NeedFiles != 0 || c.LocalFiles != 2 {
		t.Fatalf("before: %+v", c)
	}
	if err := f.DropLocal([]string{"shared", "new", "never-there"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.Local("shared"); ok {
		t.Fatal("local record still there")
	}
	g, ok, err := f.Global("shared")
	if err != nil || !ok || g.Winner.Version.Counters[0].Id != 2 {
		t.Fatalf("global after drop: %+v %v %v", g, ok, err)
	}
	if _, ok, _ := f.Global("new"); ok {
		t.Fatal("a name no device has is still global")
	}
	var need []string
	_ = f.Need(func(g GlobalEntry, _ *LocalFile) error { need = append(need, g.Winner.Name); return nil })
	if len(need) != 1 || need[0] != "shared" {
		t.Fatalf("need %q", need)
	}
	found := false
	_ = f.BlockLocations(hashOf("mine"), func(string, int64, int32) bool { found = true; return false })
	if found {
		t.Fatal("chunk map still lists the dropped record's blocks")
	}
	if c, _ := f.Counts(); c.LocalFiles != 0 || c.NeedFiles != 1 {
		t.Fatalf("after: %+v", c)
	}
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
}
