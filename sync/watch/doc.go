// Package watch turns fsnotify's per-directory notifications into debounced,
// recursive change batches for one folder root.
//
// # Usage
//
//	w := watch.New(root, watch.Options{Ignore: ign.Match, Logger: log})
//	out := make(chan watch.Event)
//	go w.Serve(ctx, out)  // owned and waited for by the folder's errgroup
//	<-w.Ready()           // watches are in place: now do the initial scan
//	for ev := range out { // rescan ev.Paths, or everything if ev.Full }
//
// # What an Event means
//
// A reported path P means "P and everything below P may have changed": P may
// be a file or a directory, and it may or may not exist any more. The consumer
// rescans P's subtree, both on disk and in its index (entries below P that are
// gone from disk are deletions). Paths inside the batch are pruned against
// their ancestors: if "a" is reported, "a/b" is not.
//
// A new directory is reported as its own path only, not entry by entry: the
// watcher adds watches for it and every directory below it first, then reports
// the directory, so a consumer that rescans the subtree afterwards sees files
// created before the watches existed (after "mkdir -p a/b && touch a/b/f"
// inotify delivers only "CREATE a").
//
// Full means "rescan the whole folder". It is emitted on an event-queue
// overflow, when a directory cannot be watched (inotify limits, permissions;
// logged once as a warning), when fsnotify reports any other error, every
// Options.FullRescan, and when the root itself changes or disappears. While
// the root is missing the watcher retries every couple of seconds and emits
// Full again once it is back. Before emitting an overflow, periodic or
// root-recovery Full the watcher re-adds all its watches, so directories
// created while events were lost are watched again.
//
// # Debounce model
//
// All pending paths form one batch with one settle deadline:
//
//	deadline = min(lastEvent + Debounce, firstEvent + MaxDelay)
//
// Each event pushes lastEvent forward, so a file that is still being written
// keeps the batch back (up to MaxDelay) instead of being announced
// half-written; with the 100 ms default a finished edit is reported about
// 100 ms after its last write. When the deadline passes the batch is frozen
// and handed to the consumer; new events start the next batch. If the consumer
// is slow, at most one frozen batch and one pending batch exist: nothing queues
// without bound. A pending Full absorbs paths, a frozen Full absorbs all new
// events (the consumer's scan starts after it receives the batch, so it sees
// them), and a Full arriving while a path batch is frozen upgrades that batch.
// More than 10 000 distinct pending paths turn into a Full as well.
//
// # Concurrency
//
// Serve runs the whole state machine (watch bookkeeping, batching, timers) on
// its own goroutine, so none of it is locked. The Ignore callback is only
// called from that goroutine. The one helper goroutine drains fsnotify's
// Errors channel: fsnotify may send an error while holding its internal lock,
// and Serve calls Add/Remove (which take that lock) from the same goroutine
// that would otherwise read Errors, which could deadlock. Serve closes the
// fsnotify watcher (which waits for fsnotify's reader goroutine) and then
// waits for the drain goroutine before it returns.
//
// # Bookkeeping of watches
//
// fsnotify (non-recursive mode) keys its watches by the path given to Add and
// does not update paths when a watched directory is renamed; adding the new
// path of the same inode before removing the old one leaves fsnotify with the
// stale path. So on a Remove or Rename of a directory the watcher first
// removes the watches of that directory and of all directories below it; the
// matching Create of the new name (delivered afterwards) adds fresh watches.
// Events are processed in order on one goroutine, so this ordering holds.
//
// Symbolic links are never followed below the root: a symlink to a directory
// is reported like a file and never watched. The root itself may be a symlink.
// Paths matched by Internal (the folder state directory and the puller's temp
// files) and by Options.Ignore are neither watched nor reported.
//
// On kqueue and Windows a directory also gets Write events when its entries
// change; these are dropped because the entries are reported themselves.
package watch
