package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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
