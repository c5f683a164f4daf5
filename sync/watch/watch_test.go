package watch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const waitTimeout = 10 * time.Second

// received is one batch as seen by the test consumer.
type received struct {
	at time.Time
	ev Event
}

// harness runs a Watcher on a temp dir and records every batch.
type harness struct {
	t    *testing.T
	root string
	w    *Watcher
	logs *syncBuffer

	mu      sync.Mutex
	batches []received
	changed chan struct{} // capacity 1: a batch arrived

	cancel   context.CancelFunc
	served   chan error
	consumer chan struct{}
	pause    chan chan struct{} // test asks the consumer to stop reading
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newHarness prepares a root (populated by setup, if non-nil) and a Watcher;
// adjust h.w's test seams, then call h.start.
func newHarness(t *testing.T, opts Options, setup func(root string)) *harness {
	t.Helper()
	root := t.TempDir()
	if setup != nil {
		setup(root)
	}
	logs := &syncBuffer{}
	h := &harness{t: t, root: root, logs: logs, changed: make(chan struct{}, 1), pause: make(chan chan struct{})}
	if opts.Logger == nil {
		handler := slog.NewTextHandler(io.MultiWriter(logs, tWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})
		opts.Logger = slog.New(handler)
	}
	h.w = New(root, opts)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	out := make(chan Event)
	h.served = make(chan error, 1)
	h.consumer = make(chan struct{})
	go func() { h.served <- h.w.Serve(ctx, out) }()
	go func() {
		defer close(h.consumer)
		for {
			select {
			case <-ctx.Done():
				return
			case resume := <-h.pause:
				select {
				case <-resume:
				case <-ctx.Done():
					return
				}
			case ev := <-out:
				h.mu.Lock()
				h.batches = append(h.batches, received{at: time.Now(), ev: ev})
				h.mu.Unlock()
				select {
				case h.changed <- struct{}{}:
				default:
				}
			}
		}
	}()
	h.t.Cleanup(h.stop)
	select {
	case <-h.w.Ready():
	case <-time.After(waitTimeout):
		h.t.Fatal("watcher not ready")
	}
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.served:
		if err != nil {
			h.t.Errorf("Serve: %v", err)
		}
	case <-time.After(waitTimeout):
		h.t.Error("Serve did not return after cancel")
	}
	<-h.consumer
}

// mark returns the number of batches seen so far.
func (h *harness) mark() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.batches)
}

func (h *harness) since(mark int) []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.batches[mark:])
}

// waitUntil polls cond over the batches since mark until it holds.
func (h *harness) waitUntil(mark int, what string, cond func([]received) bool) []received {
	h.t.Helper()
	deadline := time.After(waitTimeout)
	for {
		bs := h.since(mark)
		if cond(bs) {
			return bs
		}
		select {
		case <-h.changed:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s; batches: %v", what, events(bs))
		}
	}
}

// waitPaths waits until every path is reported (itself or an ancestor) in
// some batch since mark.
func (h *harness) waitPaths(mark int, paths ...string) []received {
	h.t.Helper()
	return h.waitUntil(mark, fmt.Sprint(paths), func(bs []received) bool {
		for _, p := range paths {
			if !covered(bs, p) {
				return false
			}
		}
		return true
	})
}

func (h *harness) waitFull(mark int) []received {
	h.t.Helper()
	return h.waitUntil(mark, "Full", func(bs []received) bool {
		return slices.ContainsFunc(bs, func(r received) bool { return r.ev.Full })
	})
}

// sentinel writes a fresh file and waits for it: every event caused before
// it has been delivered by then (events are processed in order).
func (h *harness) sentinel(name string) []received {
	h.t.Helper()
	m := h.mark()
	h.write(name, "sentinel")
	return h.waitPaths(m, name)
}

func (h *harness) write(rel, data string) {
	h.t.Helper()
	if err := os.WriteFile(filepath.Join(h.root, filepath.FromSlash(rel)), []byte(data), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) mkdir(rel string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Join(h.root, filepath.FromSlash(rel)), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

func events(bs []received) []Event {
	out := make([]Event, len(bs))
	for i, b := range bs {
		out[i] = b.ev
	}
	return out
}

// covered reports whether p or one of its ancestors appears in a batch.
func covered(bs []received, p string) bool {
	for _, b := range bs {
		for _, q := range b.ev.Paths {
			if q == p || strings.HasPrefix(p, q+"/") {
				return true
			}
		}
	}
	return false
}

// exact reports whether p itself appears in a batch.
func exact(bs []received, p string) bool {
	return slices.ContainsFunc(bs, func(r received) bool { return slices.Contains(r.ev.Paths, p) })
}

func checkBatch(t *testing.T, ev Event) {
	t.Helper()
	if ev.Full && ev.Paths != nil {
		t.Errorf("Full batch with paths %v", ev.Paths)
	}
	if !ev.Full && len(ev.Paths) == 0 {
		t.Error("empty batch")
	}
	if !slices.IsSorted(ev.Paths) || len(slices.Compact(slices.Clone(ev.Paths))) != len(ev.Paths) {
		t.Errorf("paths not sorted and unique: %v", ev.Paths)
	}
	for _, p := range ev.Paths {
		if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || filepath.IsAbs(p) {
			t.Errorf("bad path %q", p)
		}
	}
}

func TestFileLifecycle(t *testing.T) {
	h := newHarness(t, Options{}, func(root string) {
		if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	h.start()

	m := h.mark()
	h.write("sub/f.txt", "one")
	h.waitPaths(m, "sub/f.txt")

	m = h.mark()
	h.write("sub/f.txt", "two")
	h.waitPaths(m, "sub/f.txt")

	m = h.mark()
	if err := os.Rename(filepath.Join(h.root, "sub/f.txt"), filepath.Join(h.root, "g.txt")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths(m, "sub/f.txt", "g.txt")

	m = h.mark()
	if err := os.Remove(filepath.Join(h.root, "g.txt")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths(m, "g.txt")

	for _, r := range h.since(0) {
		checkBatch(t, r.ev)
		if r.ev.Full {
			t.Errorf("unexpected Full batch")
		}
	}
}

// TestMkdirRace creates nested directories and files in them faster than
// watches can be added; every file must be covered by some report.
func TestMkdirRace(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.start()
	m := h.mark()
	var files []string
	for i := range 10 {
		base := fmt.Sprintf("d%d", i)
		for _, dir := range []string{base + "/a/b/c", base + "/x"} {
			h.mkdir(dir)
			for j := range 5 {
				for _, d := range []string{dir, filepath.Dir(dir), base} {
					f := fmt.Sprintf("%s/f%d", filepath.ToSlash(d), j)
					h.write(f, "x")
					files = append(files, f)
				}
			}
		}
	}
	bs := h.waitPaths(m, files...)
	for _, r := range bs {
		checkBatch(t, r.ev)
	}

	// The deepest directories are watched: a later write there is reported
	// under its own path.
	m = h.mark()
	h.write("d9/a/b/c/late", "x")
	h.waitUntil(m, "d9/a/b/c/late", func(bs []received) bool { return exact(bs, "d9/a/b/c/late") })
	if got, want := h.w.nwatched.Load(), int64(1+10*5); got != want {
		t.Errorf("watched directories = %d, want %d", got, want)
	}
}

// TestDebounce writes a file every 20 ms for 300 ms: it must not be reported
// before the writes stop, and then exactly once.
func TestDebounce(t *testing.T) {
	const debounce = 150 * time.Millisecond // >> the 20 ms write spacing, even under -race
	h := newHarness(t, Options{Debounce: debounce, MaxDelay: 2 * time.Second}, func(root string) {
		if err := os.WriteFile(filepath.Join(root, "busy"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	h.start()

	f, err := os.OpenFile(filepath.Join(h.root, "busy"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := h.mark()
	var writes []time.Time
	start := time.Now()
	for time.Since(start) < 300*time.Millisecond {
		if _, err := f.WriteString("chunk\n"); err != nil {
			t.Fatal(err)
		}
		writes = append(writes, time.Now())
		time.Sleep(20 * time.Millisecond) // generates spaced writes; not a wait
	}
	last := writes[len(writes)-1]
	bs := h.waitPaths(m, "busy")

	var maxGap time.Duration
	for i := 1; i < len(writes); i++ {
		maxGap = max(maxGap, writes[i].Sub(writes[i-1]))
	}
	for _, r := range bs {
		if exact([]received{r}, "busy") && r.at.Before(last) {
			if maxGap >= debounce {
				t.Skipf("writer stalled for %v (>= debounce %v); early report is legitimate", maxGap, debounce)
			}
			t.Errorf("busy reported %v before the last write", last.Sub(r.at))
		}
	}

	h.sentinel("sentinel")
	n := 0
	var at time.Time
	for _, r := range h.since(m) {
		if exact([]received{r}, "busy") {
			n++
			at = r.at
		}
	}
	if n != 1 {
		t.Errorf("busy reported in %d batches, want 1", n)
	}
	t.Logf("%d writes over %v, max gap %v; reported %v after the last write (debounce %v)",
		len(writes), last.Sub(writes[0]), maxGap, at.Sub(last), debounce)
}

func TestIgnored(t *testing.T) {
	var mu sync.Mutex
	dirCalls := map[string]bool{}
	ignore := func(rel string, isDir bool) bool {
		mu.Lock()
		if isDir {
			dirCalls[rel] = true
		}
		mu.Unlock()
		return rel == "ignored" || strings.HasSuffix(rel, ".log")
	}
	h := newHarness(t, Options{Ignore: ignore}, func(root string) {
		for _, d := range []string{"ignored/deep", ".shoal/index", "sub"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	})
	h.start()
	if got := h.w.nwatched.Load(); got != 2 { // root and sub
		t.Errorf("watched directories = %d, want 2", got)
	}

	m := h.mark()
	h.write("ignored/x", "x")
	h.write("ignored/deep/x", "x")
	h.write("a.log", "x")
	h.write("sub/b.log", "x")
	h.write(".shoal/x", "x")
	h.write(".shoal/index/x", "x")
	h.write(".shoal-tmp.foo", "x")
	h.write("sub/.shoal-tmp.bar", "x")
	h.mkdir(".shoal/new/dir")
	h.write(".shoal/new/dir/x", "x")
	if err := os.Rename(filepath.Join(h.root, "sub/.shoal-tmp.bar"), filepath.Join(h.root, "sub/.shoal-tmp.baz")); err != nil {
		t.Fatal(err)
	}
	h.mkdir("newdir/ignored")
	h.sentinel("sentinel")

	for _, r := range h.since(m) {
		checkBatch(t, r.ev)
		for _, p := range r.ev.Paths {
			if p != "sentinel" && p != "newdir" {
				t.Errorf("reported ignored or internal path %q", p)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !dirCalls["sub"] || !dirCalls["ignored"] || !dirCalls["newdir"] {
		t.Errorf("Ignore not called with isDir for directories: %v", dirCalls)
	}
}

func TestInternal(t *testing.T) {
	for _, tc := range []struct {
		name string
		rel  string
		want bool
	}{
		{name: "state dir", rel: ".shoal", want: true},
		{name: "inside state dir", rel: ".shoal/index/000001.log", want: true},
		{name: "nested state dir", rel: "a/.shoal/x", want: true},
		{name: "temp file", rel: ".shoal-tmp.abc", want: true},
		{name: "nested temp file", rel: "a/b/.shoal-tmp.abc", want: true},
		{name: "plain", rel: "a/b/c.txt", want: false},
		{name: "similar name", rel: "a/.shoalx/b", want: false},
		{name: "similar temp", rel: "a/.shoal-tmp", want: false},
		{name: "suffix", rel: "x.shoal", want: false},
		{name: "empty", rel: "", want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Internal(tc.rel); got != tc.want {
				t.Errorf("Internal(%q) = %v, want %v", tc.rel, got, tc.want)
			}
		})
	}
}

func TestPeriodicFull(t *testing.T) {
	h := newHarness(t, Options{FullRescan: 50 * time.Millisecond, Debounce: 10 * time.Millisecond}, nil)
	h.start()
	h.waitUntil(0, "two Full batches", func(bs []received) bool {
		n := 0
		for _, r := range bs {
			if r.ev.Full {
				n++
			}
		}
		return n >= 2
	})
	// Watches survive the resync that goes with each periodic Full.
	m := h.mark()
	h.write("after", "x")
	h.waitUntil(m, "after", func(bs []received) bool {
		return exact(bs, "after") || slices.ContainsFunc(bs, func(r received) bool { return r.ev.Full })
	})
}

func TestServeStopsPromptly(t *testing.T) {
	baseline := runtime.NumGoroutine()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := New(root, Options{Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Event, 1) // never read: Serve must not block on it
	served := make(chan error, 1)
	go func() { served <- w.Serve(ctx, out) }()
	<-w.Ready()
	if err := os.WriteFile(filepath.Join(root, "a/b/f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for len(out) == 0 { // the first batch fills the buffer
		if time.Now().After(deadline) {
			t.Fatal("no batch")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The next batch has nowhere to go: Serve is blocked sending (or about to
	// be) when it is cancelled.
	if err := os.WriteFile(filepath.Join(root, "a/g"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after cancel")
	}
	t.Logf("Serve returned %v after cancel", time.Since(start))

	if err := w.Serve(context.Background(), out); err == nil {
		t.Error("second Serve succeeded")
	}

	deadline = time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLatency measures the time from a write to its batch (not asserted).
func TestLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("takes ~6 s")
	}
	h := newHarness(t, Options{}, nil)
	h.start()
	const edits = 50
	lat := make([]time.Duration, 0, edits)
	for i := range edits {
		m := h.mark()
		start := time.Now()
		h.write("doc.txt", fmt.Sprintf("edit %d", i))
		bs := h.waitPaths(m, "doc.txt")
		for _, r := range bs {
			if covered([]received{r}, "doc.txt") {
				lat = append(lat, r.at.Sub(start))
				break
			}
		}
	}
	slices.Sort(lat)
	t.Logf("write→event latency over %d edits (Debounce %v): min %v, median %v, p90 %v, max %v",
		len(lat), DefaultDebounce, lat[0], lat[len(lat)/2], lat[len(lat)*9/10], lat[len(lat)-1])
}

// TestDirRename renames a watched tree: the old and new names are reported,
// and the subdirectories are watched under their new paths.
func TestDirRename(t *testing.T) {
	h := newHarness(t, Options{}, func(root string) {
		if err := os.MkdirAll(filepath.Join(root, "a/b/c"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	h.start()
	if got := h.w.nwatched.Load(); got != 4 {
		t.Fatalf("watched directories = %d, want 4", got)
	}

	m := h.mark()
	if err := os.Rename(filepath.Join(h.root, "a"), filepath.Join(h.root, "z")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths(m, "a", "z")

	m = h.mark()
	h.write("z/b/c/new", "x")
	bs := h.waitUntil(m, "z/b/c/new", func(bs []received) bool { return exact(bs, "z/b/c/new") })
	if covered(bs, "a/b/c/new") {
		t.Errorf("event reported under the old (stale) path: %v", events(bs))
	}
	if got := h.w.nwatched.Load(); got != 4 {
		t.Errorf("watched directories after rename = %d, want 4", got)
	}

	// Moving the tree out of the folder and back in.
	outside := t.TempDir()
	m = h.mark()
	if err := os.Rename(filepath.Join(h.root, "z"), filepath.Join(outside, "z")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths(m, "z")
	if got := h.w.nwatched.Load(); got != 1 {
		t.Errorf("watched directories after moving out = %d, want 1", got)
	}
	m = h.mark()
	if err := os.Rename(filepath.Join(outside, "z"), filepath.Join(h.root, "back")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths(m, "back")
	m = h.mark()
	h.write("back/b/c/again", "x")
	h.waitUntil(m, "back/b/c/again", func(bs []received) bool { return exact(bs, "back/b/c/again") })
}

func TestDirRemove(t *testing.T) {
	h := newHarness(t, Options{}, func(root string) {
		if err := os.MkdirAll(filepath.Join(root, "a/b/c"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "a/b/c/f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	h.start()
	m := h.mark()
	if err := os.RemoveAll(filepath.Join(h.root, "a")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths(m, "a")
	if got := h.w.nwatched.Load(); got != 1 {
		t.Errorf("watched directories = %d, want 1", got)
	}

	// The same names again: new watches, reported under their paths.
	m = h.mark()
	h.mkdir("a/b")
	h.waitPaths(m, "a")
	m = h.mark()
	h.write("a/b/g", "x")
	h.waitUntil(m, "a/b/g", func(bs []received) bool { return exact(bs, "a/b/g") })
	if got := h.w.nwatched.Load(); got != 3 {
		t.Errorf("watched directories = %d, want 3", got)
	}
}

func TestSymlinksNotFollowed(t *testing.T) {
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(outside, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{}, func(root string) {
		if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
			t.Fatal(err)
		}
	})
	h.start()
	if got := h.w.nwatched.Load(); got != 1 {
		t.Errorf("watched directories = %d, want 1 (root only)", got)
	}

	m := h.mark()
	if err := os.Symlink(outside, filepath.Join(h.root, "link2")); err != nil {
		t.Fatal(err)
	}
	h.waitPaths(m, "link2") // the link itself is a change
	if got := h.w.nwatched.Load(); got != 1 {
		t.Errorf("watched directories = %d after new symlink, want 1", got)
	}

	m = h.mark()
	for _, p := range []string{"x", "sub/x"} {
		if err := os.WriteFile(filepath.Join(outside, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.sentinel("sentinel")
	for _, r := range h.since(m) {
		for _, p := range r.ev.Paths {
			if p != "sentinel" {
				t.Errorf("reported %q through a symlink", p)
			}
		}
	}
}

// TestSymlinkRoot watches a root given as a symlink to a directory.
func TestSymlinkRoot(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "root")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Options{}, nil)
	h.root = link
	h.w = New(link, Options{Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h.start()
	m := h.mark()
	h.mkdir("d")
	h.waitPaths(m, "d")
	m = h.mark()
	h.write("d/f", "x")
	h.waitUntil(m, "d/f", func(bs []received) bool { return exact(bs, "d/f") })
}

// TestRootRemoved removes the root (Full), recreates it (Full again) and
// checks that watching resumes.
func TestRootRemoved(t *testing.T) {
	h := newHarness(t, Options{FullRescan: -1}, func(root string) {
		if err := os.MkdirAll(filepath.Join(root, "a"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	h.w.rootRetry = 20 * time.Millisecond
	h.start()

	m := h.mark()
	if err := os.RemoveAll(h.root); err != nil {
		t.Fatal(err)
	}
	h.waitFull(m)
	if got := h.w.nwatched.Load(); got != 0 {
		t.Errorf("watched directories = %d, want 0", got)
	}

	m = h.mark()
	h.mkdir("a/b")
	h.waitFull(m)
	m = h.mark()
	h.write("a/b/f", "x")
	h.waitUntil(m, "a/b/f", func(bs []received) bool { return exact(bs, "a/b/f") })
	if n := strings.Count(h.logs.String(), `msg="Cannot watch folder root"`); n != 1 {
		t.Errorf("root warning logged %d times, want 1", n)
	}
}

// TestRootRenamed renames the root away: Full, and no stale watches report
// events from the moved tree.
func TestRootRenamed(t *testing.T) {
	h := newHarness(t, Options{FullRescan: -1}, func(root string) {
		if err := os.MkdirAll(filepath.Join(root, "a"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	h.start()
	m := h.mark()
	moved := h.root + ".moved"
	if err := os.Rename(h.root, moved); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(moved) })
	h.waitFull(m)
	if got := h.w.nwatched.Load(); got != 0 {
		t.Errorf("watched directories = %d, want 0", got)
	}
}

func TestRootMissingAtStart(t *testing.T) {
	h := newHarness(t, Options{FullRescan: -1}, nil)
	h.w.rootRetry = 20 * time.Millisecond
	if err := os.Remove(h.root); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.waitFull(0)
	m := h.mark()
	h.mkdir("")
	h.waitFull(m)
	m = h.mark()
	h.write("f", "x")
	h.waitPaths(m, "f")
}

// TestAddFailure makes some watches fail (as ENOSPC from inotify limits
// would): Full is emitted, the warning is logged once, the rest keeps working.
func TestAddFailure(t *testing.T) {
	h := newHarness(t, Options{FullRescan: -1}, func(root string) {
		if err := os.MkdirAll(filepath.Join(root, "bad1"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	h.w.addHook = func(rel string) error {
		if strings.HasPrefix(rel, "bad") {
			return fmt.Errorf("adding watch: %w", syscall.ENOSPC)
		}
		return nil
	}
	h.start()
	h.waitFull(0)

	m := h.mark()
	h.mkdir("bad2")
	h.waitFull(m)

	m = h.mark()
	h.mkdir("good/sub")
	h.waitPaths(m, "good")
	m = h.mark()
	h.write("good/sub/f", "x")
	h.waitUntil(m, "good/sub/f", func(bs []received) bool { return exact(bs, "good/sub/f") })

	if n := strings.Count(h.logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings logged, want 1:\n%s", n, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "max_user_watches") {
		t.Error("ENOSPC warning lacks the hint")
	}
}

// TestOverflow overflows the kernel's inotify queue for real by stalling the
// event loop (through the Ignore callback) while writing.
func TestOverflow(t *testing.T) {
	queued := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		_, _ = fmt.Sscan(string(b), &queued)
	} else {
		t.Skip("no inotify")
	}
	if queued > 100000 {
		t.Skipf("max_queued_events = %d: too many files to create", queued)
	}
	stall := make(chan struct{})
	stalled := make(chan struct{})
	var once sync.Once
	ignore := func(rel string, isDir bool) bool {
		if rel == "stall" {
			once.Do(func() {
				close(stalled)
				<-stall
			})
		}
		return false
	}
	h := newHarness(t, Options{Ignore: ignore, FullRescan: -1}, func(root string) {
		if err := os.Mkdir(filepath.Join(root, "many"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	h.w.maxPending = 1 << 30 // make sure the Full comes from the overflow
	// Keep the log quiet: thousands of events follow.
	h.w.log = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h.start()
	h.write("stall", "x")
	select {
	case <-stalled:
	case <-time.After(waitTimeout):
		close(stall)
		t.Fatal("event loop did not reach the stall")
	}
	// Alternate between two files: the kernel merges an event only with an
	// identical one at the tail of the queue, so each write queues one event.
	// fsnotify's reader may hold up to 2048 of these (a 64 KiB read buffer)
	// besides the kernel queue.
	nEvents := queued + 4096
	var files [2]*os.File
	for i := range files {
		f, err := os.Create(filepath.Join(h.root, "many", fmt.Sprint(i)))
		if err != nil {
			close(stall)
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	t0 := time.Now()
	for i := range nEvents {
		if _, err := files[i%2].Write([]byte{'x'}); err != nil {
			close(stall)
			t.Fatal(err)
		}
	}
	t.Logf("queued %d events in %v", nEvents, time.Since(t0))
	m := h.mark()
	t0 = time.Now()
	close(stall)
	h.waitFull(m)
	t.Logf("Full %v after the loop resumed", time.Since(t0))
	if !strings.Contains(h.logs.String(), "Event queue overflowed") {
		t.Errorf("no overflow logged:\n%s", h.logs.String())
	}
	// Still watching after the resync.
	m = h.mark()
	h.write("many/after", "x")
	h.waitUntil(m, "many/after", func(bs []received) bool { return exact(bs, "many/after") })
}

// TestSlowConsumer stops reading while changes keep coming: at most one ready
// and one pending batch exist, and together they cover every change.
func TestSlowConsumer(t *testing.T) {
	h := newHarness(t, Options{Debounce: 10 * time.Millisecond, FullRescan: -1}, nil)
	h.start()
	resume := make(chan struct{})
	h.pause <- resume
	var want []string
	for i := range 20 {
		p := fmt.Sprintf("f%02d", i)
		h.write(p, "x")
		want = append(want, p)
		time.Sleep(15 * time.Millisecond) // spaced writes: several batches become ready
	}
	close(resume)
	bs := h.waitPaths(0, want...)
	h.sentinel("sentinel")
	if n := len(h.since(0)); n > 3 { // frozen + pending + sentinel
		t.Errorf("%d batches after a stall, want at most 3: %v", n, events(h.since(0)))
	}
	for _, r := range bs {
		checkBatch(t, r.ev)
	}
}

func TestFullAbsorbs(t *testing.T) {
	w := New(t.TempDir(), Options{Debounce: time.Millisecond})
	s := newState(w, nil)
	defer s.stopTimers()

	s.addPath("a")
	s.maybeFreeze(time.Now().Add(time.Second))
	if s.frozen == nil || !slices.Equal(s.frozen.Paths, []string{"a"}) {
		t.Fatalf("frozen = %+v, want [a]", s.frozen)
	}
	s.addPath("b")
	s.markFull() // upgrades the waiting batch and drops the pending one
	if !s.frozen.Full || s.frozen.Paths != nil || !s.pending.empty() {
		t.Fatalf("frozen = %+v, pending = %+v", s.frozen, s.pending)
	}
	s.addPath("c") // absorbed by the frozen Full
	if !s.pending.empty() {
		t.Errorf("pending = %+v, want empty", s.pending)
	}

	s.frozen = nil
	s.addPath("d")
	s.markFull()
	s.addPath("e")
	s.maybeFreeze(time.Now().Add(time.Minute))
	if s.frozen == nil || !s.frozen.Full || s.frozen.Paths != nil {
		t.Errorf("frozen = %+v, want Full", s.frozen)
	}

	s.frozen = nil
	w.maxPending = 3
	for _, p := range []string{"1", "2", "3", "4"} {
		s.addPath(p)
	}
	if !s.pending.full {
		t.Errorf("pending = %+v, want Full after exceeding maxPending", s.pending)
	}
}

func TestPrunePaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{name: "single", in: []string{"a"}, want: []string{"a"}},
		{name: "sorted", in: []string{"c", "a", "b/x"}, want: []string{"a", "b/x", "c"}},
		{name: "descendants dropped", in: []string{"a/b/c", "a", "a/b", "a-b", "a-b/c"}, want: []string{"a", "a-b"}},
		{name: "siblings kept", in: []string{"a/b", "a/c", "ab/c"}, want: []string{"a/b", "a/c", "ab/c"}},
		{name: "prefix is not ancestor", in: []string{"a/bc", "a/b"}, want: []string{"a/b", "a/bc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := map[string]struct{}{}
			for _, p := range tc.in {
				set[p] = struct{}{}
			}
			if got := prunePaths(set); !slices.Equal(got, tc.want) {
				t.Errorf("prunePaths(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestMoveIntoNewDirStaysWatched: "mkdir d1 && mv d0/e1 d1/e0" done before
// the watcher handles the mkdir. Listing d1 watches e0 under its new path
// first; the kernel keys watches by inode, so handling the rename of d0/e1
// afterwards must not leave d1/e0 unwatched. Found by the oracle test.
func TestMoveIntoNewDirStaysWatched(t *testing.T) {
	for attempt := range 5 {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "d0", "e1"), 0o755); err != nil {
			t.Fatal(err)
		}
		w := New(root, Options{Debounce: 50 * time.Millisecond, FullRescan: -1})
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan Event, 100)
		done := make(chan error, 1)
		go func() { done <- w.Serve(ctx, out) }()
		<-w.Ready()
		if err := os.Mkdir(filepath.Join(root, "d1"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(root, "d0", "e1"), filepath.Join(root, "d1", "e0")); err != nil {
			t.Fatal(err)
		}
		<-out // the batch with the mkdir and the move
		// Events may take a moment to be handled; write until one for the
		// new file arrives (each write is a new chance), or give up.
		deadline := time.After(3 * time.Second)
		got := false
		for !got {
			if err := os.WriteFile(filepath.Join(root, "d1", "e0", "new.txt"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			select {
			case ev := <-out:
				for _, p := range ev.Paths {
					if p == "d1/e0/new.txt" || p == "d1/e0" || p == "d1" {
						got = true
					}
				}
				got = got || ev.Full
			case <-deadline:
				cancel()
				<-done
				t.Fatalf("attempt %d: no event for d1/e0/new.txt: the moved directory is not watched", attempt)
			}
		}
		cancel()
		<-done
	}
}
