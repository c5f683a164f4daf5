// Package testutil holds helpers shared by Shoal's tests: waiting for a
// condition with a deadline, a slog handler that writes to t.Log, and
// snapshots of directory trees.
package testutil

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Eventually polls cond until it returns nil or the timeout passes, then
// fails the test with cond's last error.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(delay)
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// Logger returns a logger that writes to t.Log until the test ends.
func Logger(t testing.TB, prefix string, level slog.Level) *slog.Logger {
	h := &tlogHandler{t: t, prefix: prefix, level: level, mu: &sync.Mutex{}}
	t.Cleanup(func() {
		h.mu.Lock()
		h.done = true
		h.mu.Unlock()
	})
	return slog.New(h)
}

type tlogHandler struct {
	t      testing.TB
	prefix string
	level  slog.Level
	attrs  []slog.Attr
	mu     *sync.Mutex
	done   bool
}

func (h *tlogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *tlogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", h.prefix, r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.done {
		h.t.Log(b.String())
	}
	return nil
}
func (h *tlogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), as...)
	return &c
}
func (h *tlogHandler) WithGroup(string) slog.Handler { return h }

// Tree returns a snapshot of the directory tree under root: each path
// (slash-separated) maps to "dir", "link:TARGET" or "file:SHA256:MODE".
// Shoal's own files are skipped unless withInternal is set.
func Tree(root string, withInternal bool) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if !withInternal && (rel == ".shoal" || strings.HasPrefix(rel, ".shoal/")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out[rel] = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link:" + t
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			out[rel] = fmt.Sprintf("file:%s:%o", hex.EncodeToString(h[:8]), fi.Mode().Perm())
		}
		return nil
	})
	return out, err
}

// DiffTrees describes how two snapshots differ ("" when equal).
func DiffTrees(a, b map[string]string) string {
	var diffs []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("only in first: %s (%s)", k, v))
		} else if v != w {
			diffs = append(diffs, fmt.Sprintf("differs: %s (%s vs %s)", k, v, w))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("only in second: %s (%s)", k, v))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 10 {
		diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
	}
	return strings.Join(diffs, "; ")
}
