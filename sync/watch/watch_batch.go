package watch

import (
	"log/slog"
	"slices"
	"strings"
	"time"
)

// batch is the pending, not yet ready set of changes.
type batch struct {
	paths       map[string]struct{}
	full        bool
	first, last time.Time // first and latest event of the batch
}

func (b *batch) empty() bool { return !b.full && len(b.paths) == 0 }

func (b *batch) touch(now time.Time) {
	if b.empty() {
		b.first = now
	}
	b.last = now
}

// deadline is when the batch becomes ready: Debounce after its latest event,
// but no later than MaxDelay after its first.
func (s *state) deadline() time.Time {
	settle := s.pending.last.Add(s.w.opts.Debounce)
	return minTime(settle, s.pending.first.Add(s.w.opts.MaxDelay))
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// addPath adds a changed path to the pending batch and pushes its deadline.
func (s *state) addPath(rel string) {
	if s.frozen != nil && s.frozen.Full {
		return // the consumer's full scan starts after this event: it is covered
	}
	s.pending.touch(time.Now())
	if !s.pending.full {
		if s.pending.paths == nil {
			s.pending.paths = make(map[string]struct{})
		}
		s.pending.paths[rel] = struct{}{}
		if len(s.pending.paths) > s.w.maxPending {
			s.w.log.Debug("Too many pending paths, rescanning folder", slog.Int("paths", len(s.pending.paths)))
			s.pending.full = true
			s.pending.paths = nil
		}
	}
	s.rearm()
}

// markFull asks for a full rescan. A frozen batch still waiting for the
// consumer is upgraded instead, which covers everything pending as well.
func (s *state) markFull() {
	if s.frozen != nil {
		if !s.frozen.Full {
			s.frozen = &Event{Full: true}
		}
		s.pending = batch{}
		s.rearm()
		return
	}
	s.pending.touch(time.Now())
	s.pending.full = true
	s.pending.paths = nil
	s.rearm()
}

// rearm points the batch timer at the pending batch's deadline. There is no
// timer while a frozen batch waits; delivering it rearms.
func (s *state) rearm() {
	if s.pending.empty() || s.frozen != nil {
		s.batchTimer.Stop()
		return
	}
	s.batchTimer.Reset(time.Until(s.deadline()))
}

// maybeFreeze hands the pending batch over once its deadline has passed.
func (s *state) maybeFreeze(now time.Time) {
	if s.frozen != nil || s.pending.empty() {
		return
	}
	if now.Before(s.deadline()) {
		s.rearm()
		return
	}
	ev := &Event{Full: s.pending.full}
	if !ev.Full {
		ev.Paths = prunePaths(s.pending.paths)
	}
	s.frozen = ev
	s.pending = batch{}
}

// prunePaths returns the paths of set that have no ancestor in set, sorted.
func prunePaths(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for p := range set {
		if !hasAncestor(set, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func hasAncestor(set map[string]struct{}, p string) bool {
	for {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return false
		}
		p = p[:i]
		if _, ok := set[p]; ok {
			return true
		}
	}
}
