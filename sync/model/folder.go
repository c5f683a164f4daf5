package model

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalsync/shoal/crypto/folderkey"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/config"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/sync/ignore"
	"github.com/shoalsync/shoal/sync/scan"
	"github.com/shoalsync/shoal/sync/watch"
)

// folder runs one folder: it owns the watcher, and serializes scans and
// pulls in one loop so the scanner never hashes a file the puller is
// replacing.
type folder struct {
	m       *Model
	id      string
	idx     *index.Folder
	sec     atomic.Pointer[folderkey.Secret] // the folder key of the current epoch; nil for a folder shared by pairing
	removed atomic.Bool                      // a member removed this device from the folder
	log     *slog.Logger
	done    chan struct{}

	cancel context.CancelFunc // stops serve; set before serve starts

	pullCh chan struct{} // capacity 1: a pull is wanted
	scanCh chan struct{} // capacity 1: pendingScan has paths
	sealCh chan struct{} // capacity 1: records may lack twins (sealPass)

	sealedUpTo atomic.Int64 // sealPass has looked at every record up to this sequence

	pulledBytes atomic.Int64 // block bytes fetched from peers
	reusedBytes atomic.Int64 // block bytes copied from local files
	hashedBytes atomic.Int64 // bytes hashed by the scanner
	recordsSent atomic.Int64
	recordsRecv atomic.Int64
	fullResends atomic.Int64 // replace_all indexes received
	rejected    atomic.Int64 // index messages refused
	nConflicts  atomic.Int64 // conflict copies, counted after each change
	nLocalOnly  atomic.Int64 // receive-only local changes, counted after each change

	caseOnce sync.Once
	caseFold bool       // the file system folds case (see caseInsensitive)
	caseMu   sync.Mutex // serializes directory creation on such a file system

	ign atomic.Pointer[ignore.Matcher] // the ignore rules in effect

	opCh        chan op       // work for the folder loop (see do)
	modeChanged chan struct{} // capacity 1: the mode setting changed

	mu struct {
		sync.Mutex
		cfg         config.Folder
		state       string
		err         error
		errFromPull bool // err was set by the puller, which clears it after a clean pass
		fileErrors  map[string]FileError
		lastScan    time.Time
		changed     chan struct{} // closed and replaced on each local index change
		pendingScan []string
		fullScan    bool
		temps       map[string]bool // temporary files made since the last clean pass
		rescans     map[string]int  // rescans in a row each path asked for
		ignErr      error           // the ignore files could not be loaded
		fullUntil   time.Time       // no pull before this: the disk was full
		swept       bool            // the folder was swept for stale temporaries since start
		// lateTwins are records a device sent with a twin (by name, the
		// sender); a reader adopts the twins for equal local records
		// (adoptTwins), so it relays them to encrypted peers.
		lateTwins map[string]identity.DeviceID
	}
}

func newFolder(m *Model, fc config.Folder, idx *index.Folder) *folder {
	f := &folder{
		m:      m,
		id:     fc.ID,
		idx:    idx,
		log:    m.log.With(slog.String("folder", fc.ID)),
		done:   make(chan struct{}),
		cancel: func() {},
		pullCh: make(chan struct{}, 1),
		scanCh: make(chan struct{}, 1),
		sealCh: make(chan struct{}, 1),
		opCh:   make(chan op),

		modeChanged: make(chan struct{}, 1),
	}
	f.mu.cfg = fc
	f.mu.state = StateStopped
	f.mu.changed = make(chan struct{})
	f.mu.fileErrors = map[string]FileError{}
	return f
}

func (f *folder) stop() {
	f.cancel()
	if f.idx != nil {
		<-f.done
	}
}

func (f *folder) setConfig(fc config.Folder) {
	f.mu.Lock()
	f.mu.cfg = fc
	f.mu.Unlock()
}

func (f *folder) path() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.cfg.Path
}

func (f *folder) label() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.cfg.Label
}

func (f *folder) sharedWith(dev identity.DeviceID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.mu.cfg.Devices, dev.String())
}

func (f *folder) setState(s string) {
	f.mu.Lock()
	f.mu.state = s
	f.mu.Unlock()
}

func (f *folder) setError(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.errFromPull = false
	if err != nil && (f.mu.err == nil || f.mu.err.Error() != err.Error()) {
		f.log.Error("Folder error", slog.Any("error", err))
	}
	f.mu.err = err
	if err != nil {
		f.mu.state = StateError
	}
}

// setPullError sets (or, with nil, clears) an error of the puller as a
// whole; a nil error leaves errors of other origins alone.
func (f *folder) setPullError(err error) {
	f.mu.Lock()
	fromPull := f.mu.errFromPull
	f.mu.Unlock()
	if err == nil && !fromPull {
		return
	}
	f.setError(err)
	f.mu.Lock()
	f.mu.errFromPull = err != nil
	if err == nil && f.mu.state == StateError {
		f.mu.state = StateIdle
	}
	f.mu.Unlock()
}

func (f *folder) waitingErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.err == nil {
		return errors.New("starting")
	}
	return f.mu.err
}

func (f *folder) hasError() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.err != nil
}

// localChanged returns a channel closed at the next local index change.
func (f *folder) localChanged() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.changed
}

func (f *folder) notifyLocalChanged() {
	f.mu.Lock()
	close(f.mu.changed)
	f.mu.changed = make(chan struct{})
	f.mu.Unlock()
}

// pullSoon asks the folder loop to pull.
func (f *folder) pullSoon() {
	select {
	case f.pullCh <- struct{}{}:
	default:
	}
}

// requestScan asks the folder loop to rescan paths ("" or nil: everything).
func (f *folder) requestScan(paths []string, full bool) {
	f.mu.Lock()
	f.mu.pendingScan = append(f.mu.pendingScan, paths...)
	f.mu.fullScan = f.mu.fullScan || full
	f.mu.Unlock()
	select {
	case f.scanCh <- struct{}{}:
	default:
	}
}

func (f *folder) takeScan() (paths []string, full bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	paths, full = f.mu.pendingScan, f.mu.fullScan
	f.mu.pendingScan, f.mu.fullScan = nil, false
	return paths, full
}

func (f *folder) status() FolderStatus {
	f.mu.Lock()
	cfg, state, ferr, last := f.mu.cfg, f.mu.state, f.mu.err, f.mu.lastScan
	var fe []FileError
	for _, e := range f.mu.fileErrors {
		fe = append(fe, e)
	}
	f.mu.Unlock()
	slices.SortFunc(fe, func(a, b FileError) int {
		if a.Path < b.Path {
			return -1
		}
		return 1
	})
	st := FolderStatus{ID: cfg.ID, Label: cfg.Label, Path: cfg.Path, Devices: slices.Clone(cfg.Devices), State: state, FileErrors: fe,
		PulledBytes: f.pulledBytes.Load(), ReusedBytes: f.reusedBytes.Load(), HashedBytes: f.hashedBytes.Load(),
		RecordsSent: f.recordsSent.Load(), RecordsReceived: f.recordsRecv.Load(), FullResendsReceived: f.fullResends.Load(), IndexesRejected: f.rejected.Load()}
	if st.Devices == nil {
		st.Devices = []string{}
	}
	if ferr != nil {
		st.Error = ferr.Error()
	}
	if !last.IsZero() {
		st.LastScan = &last
	}
	st.Mode, st.Versioning, st.MaxConflicts = cfg.EffectiveMode(), cfg.EffectiveVersioning(), cfg.EffectiveMaxConflicts()
	st.Conflicts = f.nConflicts.Load()
	if st.Mode == modeReceiveOnly {
		st.Differences = f.nLocalOnly.Load()
	}
	if f.idx != nil {
		if c, err := f.idx.Counts(); err == nil {
			if st.Mode == modeSendOnly {
				st.Differences = c.NeedFiles
			}
			st.LocalFiles, st.LocalBytes = c.LocalFiles, c.LocalBytes
			st.GlobalFiles, st.GlobalBytes = c.GlobalFiles, c.GlobalBytes
			st.NeedFiles, st.NeedBytes = c.NeedFiles, c.NeedBytes
		}
	}
	return st
}

// ErrMarkerMissing means the folder's .shoal marker directory vanished
// while its index has records: the path is probably an unmounted drive, and
// treating it as "everything deleted" would spread deletes to every device.
var ErrMarkerMissing = errors.New("folder marker missing")

// checkRoot verifies the folder path and its marker, creating the marker
// for a folder that has never been scanned.
func (f *folder) checkRoot() error {
	root := f.path()
	fi, err := os.Stat(root)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("folder path %s is missing or not a directory", root)
	}
	marker := filepath.Join(root, fsutil.StateDir)
	if _, err := os.Lstat(marker); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking folder marker: %w", err)
	}
	if f.idx.Sequence() > 0 {
		return fmt.Errorf("%w: %s does not exist; if the folder was moved or its drive unmounted, put it back (to start over, remove and re-add the folder)", ErrMarkerMissing, marker)
	}
	if err := os.Mkdir(marker, 0o700); err != nil {
		return fmt.Errorf("creating folder marker: %w", err)
	}
	return nil
}

// serve runs the folder until ctx ends.
func (f *folder) serve(ctx context.Context) {
	// Wait for a usable root.
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-f.opCh:
			o.done <- fmt.Errorf("%w: %v", errNotRunning, f.waitingErr())
			continue
		case <-retry.C:
		}
		if err := f.checkRoot(); err != nil {
			f.setError(err)
			retry.Reset(f.m.opts.RetryInterval)
			continue
		}
		break
	}
	f.setError(nil)

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	events := make(chan watch.Event, 1)
	f.mu.Lock()
	rescan := time.Duration(f.mu.cfg.RescanSeconds) * time.Second
	f.mu.Unlock()
	if rescan <= 0 {
		rescan = time.Hour
	}
	// An encrypted peer holds only twins: nothing to watch or scan.
	encrypted := f.encryptedOnly()
	if !encrypted {
		w := watch.New(f.path(), watch.Options{Debounce: f.m.opts.Debounce, FullRescan: rescan, Logger: f.log})
		wg.Go(func() {
			if err := w.Serve(ctx, events); err != nil && ctx.Err() == nil {
				f.log.Warn("Watcher stopped", slog.Any("error", err))
			}
		})
		// Scan only once the watches are in place, so no change falls between.
		select {
		case <-w.Ready():
		case <-ctx.Done():
			return
		}
	}
	f.loadIgnores()
	f.recount()
	if f.mode() != modeReceiveOnly && f.nLocalOnly.Load() > 0 {
		f.applyMode() // a mode change the agent stopped before applying
	}
	if encrypted {
		f.pullSoon()
	} else {
		f.requestScan(nil, true)
		f.sealSoon()
	}
	cleanup := time.NewTicker(time.Duration(f.cfg().EffectiveVersioning().CleanupSeconds) * time.Second)
	defer cleanup.Stop()
	f.cleanArchive()
	// retryScan rescans files that were still being written.
	retryScan := time.NewTimer(time.Hour)
	retryScan.Stop()
	defer retryScan.Stop()
	var stillWriting []string
	retryPull := time.NewTimer(time.Hour)
	retryPull.Stop()
	defer retryPull.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			f.requestScan(ev.Paths, ev.Full)
			continue
		case <-f.scanCh:
			if retry := f.runScan(ctx); len(retry) > 0 {
				stillWriting = append(stillWriting, retry...)
				retryScan.Reset(f.m.opts.Debounce)
			}
			f.pullSoon()
			f.sealSoon()
			if f.hasError() {
				retryPull.Reset(f.m.opts.RetryInterval)
			}
		case <-f.pullCh:
			seq := f.idx.Sequence()
			if again := f.runPull(ctx); again {
				retryPull.Reset(f.m.opts.RetryInterval)
			}
			if f.idx.Sequence() != seq {
				f.recount() // a walk of the index: only when the pull changed it
				f.sealSoon()
			}
		case <-f.sealCh:
			f.sealPass(ctx)
		case o := <-f.opCh:
			o.done <- o.fn(ctx)
		case <-f.modeChanged:
			f.applyMode()
		case <-cleanup.C:
			f.cleanArchive()
		case <-retryScan.C:
			f.requestScan(stillWriting, false)
			stillWriting = nil
		case <-retryPull.C:
			// Retry failed files, and any scan work kept after a failure.
			f.pullSoon()
			select {
			case f.scanCh <- struct{}{}:
			default:
			}
		}
	}
}

// runScan scans what is pending. It returns files that changed while being
// hashed, to be scanned again once they settle.
func (f *folder) runScan(ctx context.Context) (retry []string) {
	paths, full := f.takeScan()
	if (!full && len(paths) == 0) || f.encryptedOnly() {
		return nil
	}
	requeue := func() { // keep the work for the next attempt
		f.mu.Lock()
		f.mu.pendingScan = append(f.mu.pendingScan, paths...)
		f.mu.fullScan = f.mu.fullScan || full
		f.mu.Unlock()
	}
	if err := f.checkRoot(); err != nil {
		f.setError(err)
		requeue()
		return nil
	}
	if f.loadIgnores() {
		full = true // files may have become (un)ignored anywhere
	}
	if err := f.ignoreErr(); err != nil {
		f.setError(err)
		requeue()
		return nil
	}
	if full {
		paths = nil
		f.sweepTemps(24 * time.Hour)
	}
	f.setState(StateScanning)
	res, err := scan.Scan(ctx, scan.Options{Root: f.path(), Index: f.idx, LocalID: f.m.localID, Logger: f.log,
		Ignore: f.ignoredBy(), Flags: f.localFlags(), BeforeDeletions: f.checkRoot}, paths)
	f.mu.Lock()
	f.mu.lastScan = time.Now()
	f.mu.Unlock()
	f.hashedBytes.Add(res.Hashed)
	if res.Changed > 0 {
		f.notifyLocalChanged()
		f.recount()
	}
	if err != nil {
		if ctx.Err() == nil {
			f.setError(fmt.Errorf("scanning: %w", err))
			requeue()
		}
		return nil
	}
	f.setError(nil)
	f.setState(StateIdle)
	if len(res.Retry) > 0 {
		f.log.Debug("Files changed while hashing; rescanning", slog.Int("count", len(res.Retry)))
	}
	return res.Retry
}
