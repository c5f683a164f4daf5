package watch

import (
	"context"
	"errors"
	"fmt"
	"github.com/shoalsync/shoal/sync/fsutil"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for the zero values of Options.
const (
	DefaultDebounce   = 100 * time.Millisecond
	DefaultMaxDelay   = 10 * time.Second
	DefaultFullRescan = time.Hour
)

const (
	// maxPendingPaths bounds the pending batch; beyond it the batch becomes Full.
	maxPendingPaths = 10000
	// rootRetryInterval is how often a missing root is looked for again.
	rootRetryInterval = 2 * time.Second
	// maxQueuedErrors bounds the fsnotify errors kept between two loop turns.
	maxQueuedErrors = 16
)

// Options configure a Watcher. The zero value means defaults.
type Options struct {
	// Debounce is the quiet time after the last event of a batch before it is
	// reported. Zero or negative means DefaultDebounce.
	Debounce time.Duration
	// MaxDelay caps how long a batch that keeps changing is held back,
	// counted from its first event. Zero or negative means DefaultMaxDelay;
	// it is raised to Debounce if smaller.
	MaxDelay time.Duration
	// FullRescan is the period of the safety-net Full event. Zero means
	// DefaultFullRescan; negative disables it.
	FullRescan time.Duration
	// Ignore reports paths that are never watched or reported. rel is
	// slash-separated and relative to the root; isDir is true for
	// directories (for a path that no longer exists: if it was watched).
	// Called only from Serve's goroutine. May be nil. Internal paths are
	// always ignored in addition.
	Ignore func(rel string, isDir bool) bool
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Event is one batch of changes.
type Event struct {
	// Paths are changed paths relative to the root, slash-separated, sorted
	// and deduplicated, with descendants of reported paths left out. A path
	// may be a file or a directory that now exists or no longer exists; the
	// consumer rescans its whole subtree. Nil when Full.
	Paths []string
	// Full asks for a rescan of everything (overflow, a watch could not be
	// added, periodic rescan, or the root itself changed).
	Full bool
}

// Watcher watches one folder root recursively. Create it with New and run it
// with Serve, once.
type Watcher struct {
	root   string // absolute, cleaned
	opts   Options
	log    *slog.Logger
	ready  chan struct{}
	served atomic.Bool

	// Test seams; set before Serve.
	rootRetry  time.Duration
	maxPending int
	addHook    func(rel string) error // if non-nil, called before each Add; an error fails the Add

	nwatched atomic.Int64 // directories currently watched, for tests and status
}

// New returns a Watcher for root with opts' zero values replaced by defaults.
// It does not touch the filesystem; Serve does.
func New(root string, opts Options) *Watcher {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	root = filepath.Clean(root)
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	opts.MaxDelay = max(opts.MaxDelay, opts.Debounce)
	if opts.FullRescan == 0 {
		opts.FullRescan = DefaultFullRescan
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Watcher{
		root:       root,
		opts:       opts,
		log:        log.With(slog.String("root", root)),
		ready:      make(chan struct{}),
		rootRetry:  rootRetryInterval,
		maxPending: maxPendingPaths,
	}
}

// Ready is closed once Serve has made its first attempt to watch the tree.
// A consumer does its initial scan after Ready so that no change falls
// between the scan and the watches.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Serve watches the tree and sends batches on out until ctx is done, then
// closes the fsnotify watcher, waits for its goroutines and returns nil. It
// never blocks on out after ctx is done. A non-nil error means the watcher
// could not run (no inotify instance, for example) or fsnotify stopped
// unexpectedly; the caller restarts it or falls back to periodic scans.
// Serve may be called only once per Watcher.
func (w *Watcher) Serve(ctx context.Context, out chan<- Event) error {
	if w.served.Swap(true) {
		return errors.New("watch: Serve called twice")
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		close(w.ready)
		return fmt.Errorf("creating fsnotify watcher: %w", err)
	}
	errs := newErrorSink()
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for err := range fsw.Errors {
			errs.put(err)
		}
	}()
	defer func() {
		_ = fsw.Close() // waits for fsnotify's reader, which then closes Errors
		<-drained
	}()

	s := newState(w, fsw)
	defer s.stopTimers()
	s.resync()
	if !s.rootOK {
		s.markFull()
	}
	close(w.ready)

	var rescan <-chan time.Time
	if w.opts.FullRescan > 0 {
		t := time.NewTicker(w.opts.FullRescan)
		defer t.Stop()
		rescan = t.C
	}

	for {
		var send chan<- Event
		var ev Event
		if s.frozen != nil {
			send, ev = out, *s.frozen
		}
		select {
		case <-ctx.Done():
			return nil
		case send <- ev:
			s.frozen = nil
			s.rearm()
		case fe, ok := <-fsw.Events:
			if !ok {
				return errors.New("watch: fsnotify event stream closed")
			}
			s.handleEvent(fe)
		case <-errs.signal:
			s.handleErrors(errs.take())
		case <-s.batchTimer.C:
			s.maybeFreeze(time.Now())
		case <-rescan:
			s.resync()
			s.markFull()
		case <-s.retryTimer.C:
			s.retryRoot()
		}
	}
}

// Internal reports whether rel (slash-separated, relative to a folder root)
// belongs to Shoal itself (see fsutil.Internal). Such paths are never
// watched, reported or scanned.
func Internal(rel string) bool { return fsutil.Internal(rel) }

// errorSink queues fsnotify errors without ever blocking fsnotify.
type errorSink struct {
	signal chan struct{} // capacity 1: "errors are queued"
	mu     struct {
		sync.Mutex
		errs    []error
		dropped int
	}
}

func newErrorSink() *errorSink { return &errorSink{signal: make(chan struct{}, 1)} }

func (e *errorSink) put(err error) {
	e.mu.Lock()
	if len(e.mu.errs) < maxQueuedErrors {
		e.mu.errs = append(e.mu.errs, err)
	} else {
		e.mu.dropped++
	}
	e.mu.Unlock()
	select {
	case e.signal <- struct{}{}:
	default:
	}
}

// take returns the queued errors and how many were dropped beyond them.
func (e *errorSink) take() ([]error, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	errs, dropped := e.mu.errs, e.mu.dropped
	e.mu.errs, e.mu.dropped = nil, 0
	return errs, dropped
}

// state is everything Serve's goroutine owns.
type state struct {
	w   *Watcher
	fsw *fsnotify.Watcher

	tree       *dirNode                   // watched directories; nil while the root is not watched
	byIno      map[uint64]map[string]bool // watched directories by inode
	rootOK     bool
	rootWarned bool // the root's failure has been logged as a warning
	warnedAdd  bool // a failed Add has been logged as a warning

	pending batch
	frozen  *Event // ready batch waiting for the consumer

	batchTimer *time.Timer // fires at the pending batch's deadline
	retryTimer *time.Timer // fires while the root is missing
}

func newState(w *Watcher, fsw *fsnotify.Watcher) *state {
	s := &state{
		w:          w,
		fsw:        fsw,
		batchTimer: time.NewTimer(time.Hour),
		retryTimer: time.NewTimer(time.Hour),
	}
	s.batchTimer.Stop()
	s.retryTimer.Stop()
	return s
}

func (s *state) stopTimers() {
	s.batchTimer.Stop()
	s.retryTimer.Stop()
}

func (s *state) abs(rel string) string {
	if rel == "" {
		return s.w.root
	}
	return filepath.Join(s.w.root, filepath.FromSlash(rel))
}

// rel maps an fsnotify path to a slash-separated path relative to the root;
// "" is the root itself.
func (s *state) rel(name string) (string, bool) {
	if name == s.w.root {
		return "", true
	}
	prefix := s.w.root
	if !strings.HasSuffix(prefix, string(filepath.Separator)) {
		prefix += string(filepath.Separator)
	}
	r, ok := strings.CutPrefix(name, prefix)
	if !ok || r == "" {
		return "", false
	}
	return filepath.ToSlash(r), true
}

func (s *state) ignored(rel string, isDir bool) bool {
	if rel == "" {
		return false
	}
	return Internal(rel) || (s.w.opts.Ignore != nil && s.w.opts.Ignore(rel, isDir))
}

// handleEvent updates the watches and the pending batch for one fsnotify event.
func (s *state) handleEvent(ev fsnotify.Event) {
	rel, ok := s.rel(ev.Name)
	if !ok {
		return
	}
	if rel == "" {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			s.w.log.Warn("Folder root removed or renamed", slog.String("op", ev.Op.String()))
			s.dropAll()
			s.rootLost()
		}
		s.markFull()
		return
	}
	if Internal(rel) {
		return
	}
	isDir := s.lookup(rel) != nil
	if isDir && (ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)) {
		s.dropTree(rel)
	}
	if ev.Has(fsnotify.Create) {
		fi, err := os.Lstat(s.abs(rel))
		isDir = err == nil && fi.IsDir() // a symlink is not a directory here
	}
	if s.ignored(rel, isDir) {
		return
	}
	if isDir && ev.Op == fsnotify.Write {
		return // kqueue/Windows: the changed entries are reported themselves
	}
	if isDir && ev.Has(fsnotify.Create) {
		s.addTree(rel)
	}
	s.addPath(rel)
}

// handleErrors turns fsnotify errors into a Full rescan.
func (s *state) handleErrors(errs []error, dropped int) {
	for _, err := range errs {
		if errors.Is(err, fsnotify.ErrEventOverflow) {
			s.w.log.Warn("Event queue overflowed, rescanning folder", slog.Any("error", err))
		} else {
			s.w.log.Warn("Watcher error, rescanning folder", slog.Any("error", err))
		}
	}
	if len(errs) == 0 && dropped == 0 {
		return
	}
	s.resync()
	s.markFull()
}
