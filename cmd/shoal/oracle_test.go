package main

// TestOracle is a seeded randomized end-to-end test: three agents (A, B, C)
// run as real `shoal run` processes, paired and sharing one folder through
// the CLI. The harness plays three users who create, edit, patch, append to,
// truncate, delete, rename and chmod files, create symlinks, create, move and
// `rm -r` directories, put a file where another device may have a directory
// (and the reverse), and edit the same file on two devices at almost the
// same time, while it restarts agents gracefully, SIGKILLs them (sometimes
// right after a burst of writes, so the kill lands mid-scan or mid-pull) and
// takes them offline for a while as their users keep working.
//
// The content oracle: every content a user operation writes is recorded by
// its SHA-256; a content is released when a user operation itself destroys
// it on a device (the harness hashes what is on disk just before it
// overwrites, truncates, appends to or deletes a file, or removes a tree).
// Renames keep content. Whatever was written and not released is required.
//
// When the operations are done and every agent runs again, the test waits
// until the three trees are identical (paths, types, content, file modes,
// symlink targets; .shoal left out), every agent reports nothing needed and
// no folder error, and no temporary file (.shoal-tmp.*) is left. Then it
// checks that
//   - every required content still exists on some device: as a live file, a
//     conflict copy (*.sync-conflict-*) or an archived version (any file
//     under <folder>/.shoal/versions);
//   - every file on any device (live, conflict copy or archived) holds
//     content some user operation wrote;
//   - after a graceful stop, each agent's index agrees with its disk: every
//     live local record matches the disk (type, size, mtime, mode, symlink
//     target, block hashes) and every entry on disk has a live record; and
//     the index's derived keys pass index.Folder.Check.
//
// Flags (after the package on the go test command line):
//
//	-oracle.seed=N      seed (default: time-based; logged at the start and on failure)
//	-oracle.ops=N       user operations (default 150)
//	-oracle.restarts=N  agent disruptions: graceful restarts, SIGKILLs and disconnects (default 5)
//	-oracle.converge=D  how long to wait for convergence (default 3m)
//	-oracle.dir=PATH    keep homes, folders, agent logs and the operation log under PATH/SEED
//	-oracle.v           log every operation as it is done
//
// SHOAL_LOG=debug in the environment makes the agents log at debug level.
// The short run is part of `go test ./...` (skipped with -short). A long run:
//
//	go test ./cmd/shoal -run 'TestOracle$' -oracle.ops=3000 -oracle.restarts=40 -timeout 60m -v
//
// A seed fixes the schedule of operations and disruptions and every content;
// sync timing still varies, so a replay reproduces a failure often but not
// always. With -oracle.dir the run is kept for a post-mortem: oplog.txt has
// every operation with the hashes it wrote and freed, agent-X.log each
// agent's output, and TestOracleInspect (oracle_helpers_test.go) prints what
// the three indexes say about one path.

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/internal/testutil"
	"github.com/shoalsync/shoal/sync/model"
)

var (
	oracleSeed     = flag.Int64("oracle.seed", 0, "seed of TestOracle (0: time-based)")
	oracleOps      = flag.Int("oracle.ops", 150, "user operations TestOracle does")
	oracleRestarts = flag.Int("oracle.restarts", 5, "agent disruptions (graceful restarts, SIGKILLs, disconnects) TestOracle does")
	oracleConverge = flag.Duration("oracle.converge", 3*time.Minute, "how long TestOracle waits for the devices to converge")
	oracleDir      = flag.String("oracle.dir", "", "keep TestOracle's homes, folders and logs under this directory")
	oracleVerbose  = flag.Bool("oracle.v", false, "log every operation of TestOracle")
)

const oracleFolderID = "oracle"

// oracleRun is the state of one TestOracle run.
type oracleRun struct {
	t    *testing.T
	seed int64
	rng  *rand.Rand
	base string
	t0   time.Time
	devs [3]*oDev
	opN  int // user operations done so far
	log  []*opEntry

	written  map[string]int  // content hash → size, of every content a user operation wrote
	required map[string]bool // written and not since destroyed by a user operation

	due   []int // op numbers at which a disruption is due, ascending
	stats struct {
		restarts, kills, burstKills, disconnects int
		ops                                      map[string]int
	}
	dumped bool
}

func TestOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three agents and runs for a while")
	}
	seed := *oracleSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	replay := fmt.Sprintf("oracle seed %d (replay: go test ./cmd/shoal -run 'TestOracle$' -oracle.seed=%d -oracle.ops=%d -oracle.restarts=%d -v)",
		seed, seed, *oracleOps, *oracleRestarts)
	t.Log(replay)
	r := &oracleRun{t: t, seed: seed, rng: rand.New(rand.NewPCG(uint64(seed), 0x5401a1)), t0: time.Now(),
		written: map[string]int{}, required: map[string]bool{}}
	r.stats.ops = map[string]int{}
	r.base = t.TempDir()
	if *oracleDir != "" {
		r.base = filepath.Join(*oracleDir, fmt.Sprint(seed))
		if _, err := os.Stat(r.base); err == nil {
			t.Fatalf("%s exists (a run with the same seed?): remove it or choose another -oracle.dir", r.base)
		}
		if err := os.MkdirAll(r.base, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Cleanups run last-registered first: diagnostics while the agents
	// still run, then the agents are stopped, then the directories go.
	t.Cleanup(func() {
		for _, d := range r.devs {
			if d != nil && d.proc != nil {
				r.killProc(d.proc)
			}
		}
	})
	t.Cleanup(func() {
		r.writeOpLog()
		if t.Failed() {
			r.dump()
			t.Log(replay)
		}
	})

	r.setup()
	setupDone := time.Now()
	r.runOps()
	opsDone := time.Now()
	r.converge()
	converged := time.Now()
	final := r.checkContents()
	for _, d := range r.devs {
		r.stop(d)
	}
	r.checkIndexes()

	var conflicts, archived int
	for k := range final[0].entries {
		if isConflictCopy(k) {
			conflicts++
		}
	}
	for _, tr := range final {
		archived += len(tr.archive)
	}
	t.Logf("%d ops %v; %d graceful restarts, %d kills (%d after a burst), %d disconnects; %d entries, %d conflict copies, %d archived versions; %d contents written, %d required",
		r.opN, r.stats.ops, r.stats.restarts, r.stats.kills, r.stats.burstKills, r.stats.disconnects,
		len(final[0].entries), conflicts, archived, len(r.written), len(r.required))
	t.Logf("setup %.1fs (building the binary included), operations %.1fs, convergence %.1fs, checks %.1fs",
		setupDone.Sub(r.t0).Seconds(), opsDone.Sub(setupDone).Seconds(), converged.Sub(opsDone).Seconds(), time.Since(converged).Seconds())
}

func (r *oracleRun) since() string { return time.Since(r.t0).Round(time.Millisecond).String() }

// errorf reports a failure and goes on.
func (r *oracleRun) errorf(format string, args ...any) {
	r.t.Helper()
	r.t.Errorf("[%s, op %d] "+format, append([]any{r.since(), r.opN}, args...)...)
}

// fatalf reports a failure with the diagnostics and stops the test.
func (r *oracleRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.dump()
	r.t.Fatalf("[%s, op %d] "+format, append([]any{r.since(), r.opN}, args...)...)
}

// dump logs what helps debugging a failure: the last operations, each
// agent's folder status and the tail of its log. Once per run.
func (r *oracleRun) dump() {
	if r.dumped {
		return
	}
	r.dumped = true
	var b strings.Builder
	from := max(0, len(r.log)-60)
	fmt.Fprintf(&b, "last %d of %d operations:\n", len(r.log)-from, len(r.log))
	for _, e := range r.log[from:] {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	for _, d := range r.devs {
		if d == nil {
			continue
		}
		if d.proc != nil {
			st, err := r.folderStatus(d)
			fmt.Fprintf(&b, "agent %s (%s) folder status: state=%s needFiles=%d needBytes=%d error=%q fileErrors=%v (err %v)\n",
				d.name, d.id, st.State, st.NeedFiles, st.NeedBytes, st.Error, st.FileErrors, err)
			if dirs, err := unwatchedDirs(d.proc.cmd.Process.Pid, d.dir); len(dirs) > 0 || err != nil {
				fmt.Fprintf(&b, "agent %s has no inotify watch on %v (err %v)\n", d.name, dirs, err)
			}
		} else {
			fmt.Fprintf(&b, "agent %s (%s) is not running\n", d.name, d.id)
		}
		fmt.Fprintf(&b, "agent %s warnings and errors:\n  %s\n", d.name, strings.Join(grepFile(d.logPath, 40, "level=WARN", "level=ERROR", "panic", "fatal"), "\n  "))
		fmt.Fprintf(&b, "agent %s log tail:\n%s\n", d.name, tailFile(d.logPath, 40))
	}
	if *oracleDir != "" {
		fmt.Fprintf(&b, "everything is kept in %s (oplog.txt, agent-*.log)\n", r.base)
	}
	r.t.Log(b.String())
}

func (r *oracleRun) writeOpLog() {
	var b strings.Builder
	for _, e := range r.log {
		fmt.Fprintln(&b, e)
	}
	os.WriteFile(filepath.Join(r.base, "oplog.txt"), []byte(b.String()), 0o644)
}

// setup starts the three agents, pairs them and shares the folder, all
// through the CLI, and waits until every pair is connected.
func (r *oracleRun) setup() {
	t := r.t
	for i, name := range []string{"A", "B", "C"} {
		d := &oDev{name: name, home: filepath.Join(r.base, "home-"+name), dir: filepath.Join(r.base, name),
			logPath: filepath.Join(r.base, "agent-"+name+".log")}
		if err := os.MkdirAll(d.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		d.id = strings.TrimSpace(mustShoal(t, d.home, "id"))
		r.devs[i] = d
	}
	for _, d := range r.devs {
		r.start(d)
	}
	for _, d := range r.devs {
		for _, o := range r.devs {
			if o != d {
				args := []string{"device", "add", o.id, "--name", o.name}
				for _, a := range o.addrs {
					args = append(args, "--addr", a)
				}
				mustShoal(t, d.home, args...)
			}
		}
	}
	for _, d := range r.devs {
		args := []string{"folder", "add", d.dir, "--id", oracleFolderID}
		for _, o := range r.devs {
			if o != d {
				args = append(args, "--share", o.id)
			}
		}
		mustShoal(t, d.home, args...)
	}
	testutil.Eventually(t, 60*time.Second, func() error {
		for _, d := range r.devs {
			st, err := r.status(d)
			if err != nil {
				return err
			}
			for _, ds := range st.Devices {
				if !ds.Connected {
					return fmt.Errorf("%s is not connected to %s", d.name, ds.Name)
				}
			}
			if len(st.Devices) != 2 {
				return fmt.Errorf("%s has %d devices", d.name, len(st.Devices))
			}
		}
		return nil
	})
	t.Logf("agents paired and connected after %s", r.since())
}

// runOps does the user operations in small batches with short random
// pauses, and the disruptions at the op numbers drawn for them.
func (r *oracleRun) runOps() {
	n := *oracleOps
	for range *oracleRestarts {
		r.due = append(r.due, 3+r.rng.IntN(max(1, n-6)))
	}
	slices.Sort(r.due)
	for r.opN < n {
		batch := 1 + r.rng.IntN(6)
		for i := 0; i < batch && r.opN < n; i++ {
			for len(r.due) > 0 && r.due[0] <= r.opN {
				r.due = r.due[1:]
				r.disruption()
			}
			r.randomOp()
		}
		r.bringBack(false)
		r.checkAlive()
		// Pacing: mostly short pauses, so changes pile up and collide;
		// sometimes a longer one, so sync catches up in between.
		pause := time.Duration(r.rng.IntN(300)) * time.Millisecond
		if r.rng.IntN(10) == 0 {
			pause = time.Duration(500+r.rng.IntN(1500)) * time.Millisecond
		}
		time.Sleep(pause)
	}
	r.bringBack(true)
}

// randomOp does one user operation on a random device.
func (r *oracleRun) randomOp() {
	d := r.devs[r.rng.IntN(len(r.devs))]
	l := listDisk(d.dir)
	before := len(r.log)
	switch w := r.rng.IntN(100); {
	case w < 28:
		r.opCreate(d, r.randFilePath())
	case w < 41:
		r.opEdit(d, l)
	case w < 46:
		r.opPatch(d, l)
	case w < 53:
		r.opAppend(d, l)
	case w < 57:
		r.opTruncate(d, l)
	case w < 65:
		r.opDelete(d, l)
	case w < 74:
		r.opRename(d, l)
	case w < 79:
		r.opMkdir(d, r.randDirPath())
	case w < 82:
		r.opRmdir(d, l)
	case w < 84:
		r.opMoveDir(d, l)
	case w < 88:
		r.opChmod(d, l)
	case w < 90:
		r.opSymlink(d)
	case w < 91:
		// A file where other devices may have a directory.
		r.opCreate(d, r.randDirPath())
	case w < 92:
		// A directory where other devices may have a file.
		r.opMkdir(d, r.randFilePath())
	default:
		r.opConflict()
	}
	for _, e := range r.log[before:] {
		r.stats.ops[e.op]++
	}
	r.opN++
}

// burst writes many files on a device as fast as it can.
func (r *oracleRun) burst(d *oDev, n int) {
	for range n {
		r.opCreate(d, r.randFilePath())
		r.stats.ops["create"]++
		r.opN++
	}
}

// disruption restarts, kills or disconnects a random running agent.
func (r *oracleRun) disruption() {
	var up []*oDev
	for _, d := range r.devs {
		if d.proc != nil {
			up = append(up, d)
		}
	}
	if len(up) == 0 {
		return
	}
	d := up[r.rng.IntN(len(up))]
	switch k := r.rng.IntN(100); {
	case k < 30:
		r.newEntry(d, "AGENT-RESTART", "")
		r.stats.restarts++
		r.stop(d)
		r.start(d)
	case k < 50:
		r.newEntry(d, "AGENT-KILL", "")
		r.stats.kills++
		r.kill(d)
		r.start(d)
	case k < 75:
		// A burst of writes, then the kill: on the writer it lands while
		// scanning, on another device while pulling.
		w := r.devs[r.rng.IntN(len(r.devs))]
		n := 10 + r.rng.IntN(30)
		delay := time.Duration(r.rng.IntN(800)) * time.Millisecond
		e := r.newEntry(d, "AGENT-KILL-AFTER-BURST", "")
		e.note = fmt.Sprintf("%d files written on %s, kill %v later", n, w.name, delay)
		r.stats.kills++
		r.stats.burstKills++
		r.burst(w, n)
		time.Sleep(delay) // pacing: where the kill lands is the point
		r.kill(d)
		r.start(d)
	default:
		e := r.newEntry(d, "AGENT-DISCONNECT", "")
		d.downUntil = r.opN + 5 + r.rng.IntN(25)
		e.note = fmt.Sprintf("down until op %d", d.downUntil)
		r.stats.disconnects++
		if r.rng.IntN(3) == 0 {
			r.stop(d)
		} else {
			r.kill(d)
		}
	}
}

// bringBack starts disconnected agents whose time is up (all when all is set).
func (r *oracleRun) bringBack(all bool) {
	for _, d := range r.devs {
		if d.proc == nil && (all || r.opN >= d.downUntil) {
			r.newEntry(d, "AGENT-RECONNECT", "")
			r.start(d)
		}
	}
}

// converge waits until the devices agree, or reports what differs.
// Temporary files left behind once they agree are reported as a failure
// of their own. Either way the checks go on.
func (r *oracleRun) converge() {
	deadline := time.Now().Add(*oracleConverge)
	var tempsSince time.Time
	nextNote := time.Now().Add(30 * time.Second)
	for {
		r.checkAlive()
		why, trees := r.convergedWhy()
		if why != "" && time.Now().After(nextNote) {
			r.t.Logf("[%s] still not converged: %s", r.since(), why)
			nextNote = time.Now().Add(30 * time.Second)
		}
		if why == "" {
			var temps []string
			for i, tr := range trees {
				for _, p := range tr.temps {
					temps = append(temps, r.devs[i].name+":"+p)
				}
			}
			if len(temps) == 0 {
				return
			}
			// Temporary files are only swept after a day: waiting for
			// them much longer is pointless.
			if tempsSince.IsZero() {
				tempsSince = time.Now()
			}
			if time.Since(tempsSince) > 20*time.Second {
				r.errorf("temporary files left after the devices converged: %v", temps)
				return
			}
		} else {
			tempsSince = time.Time{}
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			if trees != nil {
				for i := 1; i < 3; i++ {
					fmt.Fprintf(&b, "A vs %s:\n  %s\n", r.devs[i].name, strings.Join(diffTrees("A", trees[0], r.devs[i].name, trees[i], 40), "\n  "))
				}
			}
			// Not fatal: the content and index checks below still say
			// something about a run that did not converge.
			r.dump()
			r.errorf("no convergence within %v: %s\n%s", *oracleConverge, why, b.String())
			return
		}
		time.Sleep(500 * time.Millisecond) // poll interval
	}
}

// convergedWhy returns "" once the devices agree (temporary files aside),
// else why not, and the snapshots it took.
func (r *oracleRun) convergedWhy() (why string, trees []oTree) {
	var sts []model.FolderStatus
	for _, d := range r.devs {
		st, err := r.folderStatus(d)
		if err != nil {
			return fmt.Sprintf("status of %s: %v", d.name, err), nil
		}
		sts = append(sts, st)
	}
	var reasons []string
	for i, st := range sts {
		if st.NeedFiles != 0 || st.Error != "" || st.State != model.StateIdle {
			reasons = append(reasons, fmt.Sprintf("%s: state %s, needs %d files, error %q, file errors %v",
				r.devs[i].name, st.State, st.NeedFiles, st.Error, st.FileErrors))
		}
	}
	for _, d := range r.devs {
		trees = append(trees, snapshot(d.dir))
	}
	for i := 1; i < 3; i++ {
		if diff := diffTrees("A", trees[0], r.devs[i].name, trees[i], 5); len(diff) > 0 {
			reasons = append(reasons, fmt.Sprintf("A and %s differ: %s", r.devs[i].name, strings.Join(diff, "; ")))
		}
	}
	for i, tr := range trees {
		if len(tr.problems) > 0 {
			reasons = append(reasons, fmt.Sprintf("%s changed while walking: %v", r.devs[i].name, tr.problems))
		}
	}
	return strings.Join(reasons, "\n"), trees
}

// checkContents checks that every required content survives somewhere and
// that nothing on disk is content no user wrote. It returns the snapshots.
func (r *oracleRun) checkContents() []oTree {
	var trees []oTree
	where := map[string][]string{} // content hash → where it is
	for _, d := range r.devs {
		tr := snapshot(d.dir)
		trees = append(trees, tr)
		for p, e := range tr.entries {
			if e.kind == 'f' {
				where[e.hash] = append(where[e.hash], d.name+":"+p)
			}
		}
		for p, h := range tr.archive {
			where[h] = append(where[h], d.name+":.shoal/versions/"+p)
		}
	}
	var missing []string
	for h := range r.required {
		if len(where[h]) == 0 {
			missing = append(missing, h)
		}
	}
	slices.Sort(missing)
	for _, h := range missing {
		r.errorf("content %s (%d bytes) is lost: no live file, conflict copy or archived version holds it. Its history:\n  %s",
			short(h), r.written[h], strings.Join(r.history(h), "\n  "))
	}
	var unknown []string
	for h, ps := range where {
		if _, ok := r.written[h]; !ok && h != emptyHash {
			unknown = append(unknown, fmt.Sprintf("%s at %v", short(h), ps))
		}
	}
	slices.Sort(unknown)
	for _, u := range unknown {
		r.errorf("content no user operation wrote is on disk: %s", u)
	}
	r.t.Logf("content check: %d required contents, %d missing, %d unknown", len(r.required), len(missing), len(unknown))
	return trees
}

// checkIndexes compares each stopped agent's index with its disk.
func (r *oracleRun) checkIndexes() {
	for _, d := range r.devs {
		probs := checkIndex(d)
		if len(probs) > 30 {
			probs = append(probs[:30], fmt.Sprintf("... and %d more", len(probs)-30))
		}
		if len(probs) > 0 {
			r.errorf("agent %s: index and disk disagree:\n  %s", d.name, strings.Join(probs, "\n  "))
		}
	}
}
