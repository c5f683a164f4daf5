package index

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shoalsync/shoal/transport/wire"
)

// TestConcurrentReadersAndWriters runs readers against two writers and
// checks that every read sees a consistent state.
func TestConcurrentReadersAndWriters(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	var done atomic.Bool
	var writers, readers sync.WaitGroup
	writers.Go(func() {
		for i := range 100 {
			name := fmt.Sprintf("f%d", i%10)
			if err := f.UpdateLocal(locals(file(name, vec(1, uint64(i+1)), int64(i), "b"))); err != nil {
				t.Error(err)
				return
			}
		}
	})
	writers.Go(func() {
		for i := range 100 {
			name := fmt.Sprintf("f%d", (i+5)%10)
			if err := f.UpdateRemote(devA, 1, i == 0, []*wire.FileInfo{file(name, vec(2, uint64(i+1)), int64(i))}, int64(i+1)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 2 {
		readers.Go(func() {
			for !done.Load() {
				err := f.Need(func(g GlobalEntry, local *LocalFile) error {
					if local != nil && Compare(local.Info.Version, g.Winner.Version) == Equal {
						return errors.New("needed although local equals winner")
					}
					return nil
				})
				if err == nil {
					_, _, err = f.Global("f3")
				}
				if err == nil {
					err = f.LocalSince(0, func(*wire.FileInfo) error { return nil })
				}
				if err == nil {
					err = f.BlockLocations(hashOf("b"), func(string, int64, int32) bool { return true })
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	writers.Wait()
	done.Store(true)
	readers.Wait()
	mustCheck(t, f)
}

// TestCallbackMayWrite checks that a Need callback can update the index
// (the puller records what it fetched) without deadlocking.
func TestCallbackMayWrite(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustRemote(t, f, devA, true, file("a", vec(2, 1), 1), file("b", vec(2, 1), 1))
	err := f.Need(func(g GlobalEntry, _ *LocalFile) error {
		return f.UpdateLocal([]LocalFile{{Info: g.Winner}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := needList(t, f); len(got) != 0 {
		t.Fatalf("Need = %q", got)
	}
	mustCheck(t, f)
}

// TestCloseWhileReading closes the store under running readers: they stop
// with ErrClosed and Close waits for them.
func TestCloseWhileReading(t *testing.T) {
	s := openTest(t, t.TempDir())
	f := mustFolder(t, s, "default")
	mustRemote(t, f, devA, true, file("a", vec(2, 1), 1))
	var readers sync.WaitGroup
	var started sync.WaitGroup
	for range 2 {
		started.Add(1)
		readers.Go(func() {
			first := true
			for {
				_, _, err := f.Global("a")
				if first {
					started.Done()
					first = false
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	started.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	readers.Wait()
}
