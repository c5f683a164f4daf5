package main

// Helpers of TestOracle (oracle_test.go): agent processes that keep their
// listen ports across restarts, the user's file operations with the content
// bookkeeping, tree snapshots and the index-versus-disk check.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoalsync/shoal/admin"
	"github.com/shoalsync/shoal/cmd/shoal/agent"
	"github.com/shoalsync/shoal/crypto/identity"
	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/sync/fsutil"
	"github.com/shoalsync/shoal/sync/model"
	"github.com/shoalsync/shoal/transport/wire"
)

// emptyHash is the SHA-256 of no bytes. Empty files carry no data, so the
// content checks leave them out.
var emptyHash = hashOf(nil)

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// ---------------------------------------------------------------------------
// Agent processes

// oDev is one device of the oracle run: its home, its folder and, while it
// runs, its `shoal run` process.
type oDev struct {
	name    string // A, B or C
	home    string
	dir     string // the shared folder
	id      string
	logPath string   // every start of the agent appends its output here
	listen  []string // --listen values; the OS picks the ports at the first start, later starts reuse them
	addrs   []string // what peers dial (multiaddrs)
	proc    *oProc   // nil while the agent is down
	starts  int

	downUntil int // op number at which a disconnected device comes back
}

// oProc is one running `shoal run`.
type oProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (d *oDev) abs(rel string) string { return filepath.Join(d.dir, filepath.FromSlash(rel)) }

var (
	reQUIC = regexp.MustCompile(`^/ip4/([0-9.]+)/udp/([0-9]+)/quic-v1(/|$)`)
	reTCP  = regexp.MustCompile(`^/ip4/([0-9.]+)/tcp/([0-9]+)(/|$)`)
)

// listenFlags turns the agent's announced multiaddrs into --listen values
// with the same ports.
func listenFlags(addrs []string) ([]string, error) {
	var out []string
	for _, a := range addrs {
		if m := reQUIC.FindStringSubmatch(a); m != nil {
			out = append(out, "quic://"+m[1]+":"+m[2])
		} else if m := reTCP.FindStringSubmatch(a); m != nil {
			out = append(out, "tcp://"+m[1]+":"+m[2])
		}
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("want one QUIC and one TCP listen address, got %q", addrs)
	}
	return out, nil
}

// tryStart starts the agent and waits until its admin API answers.
func (r *oracleRun) tryStart(d *oDev) (*oProc, error) {
	os.Remove(filepath.Join(d.home, admin.EndpointFile)) // a killed agent leaves it behind
	lf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening agent log: %w", err)
	}
	fmt.Fprintf(lf, "=== oracle: start %d of agent %s at op %d (%s) ===\n", d.starts+1, d.name, r.opN, r.since())
	args := []string{"--home", d.home, "run", "--no-default-folder", "--admin", "127.0.0.1:0"}
	listen := d.listen
	if len(listen) == 0 {
		listen = []string{"quic://127.0.0.1:0", "tcp://127.0.0.1:0"}
	}
	for _, l := range listen {
		args = append(args, "--listen", l)
	}
	cmd := exec.Command(shoalBinary(r.t), args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("starting agent: %w", err)
	}
	p := &oProc{cmd: cmd, done: make(chan struct{})}
	go func() { // waited for through p.done by stop, kill and the cleanup
		cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.done:
			return nil, fmt.Errorf("agent %s exited at start (%v):\n%s", d.name, cmd.ProcessState, tailFile(d.logPath, 20))
		default:
		}
		st, err := r.status(d)
		if err == nil {
			if len(d.listen) == 0 {
				if d.listen, err = listenFlags(st.ListenAddrs); err != nil {
					r.killProc(p)
					return nil, err
				}
				d.addrs = st.ListenAddrs
			}
			return p, nil
		}
		if time.Now().After(deadline) {
			r.killProc(p)
			return nil, fmt.Errorf("agent %s did not answer within 30 s: %v\n%s", d.name, err, tailFile(d.logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// start starts a device's agent. A port taken meanwhile by someone else is
// retried a few times.
func (r *oracleRun) start(d *oDev) {
	r.t.Helper()
	var err error
	for attempt := range 5 {
		var p *oProc
		if p, err = r.tryStart(d); err == nil {
			d.proc = p
			d.starts++
			return
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 300 * time.Millisecond) // back off before trying the port again
	}
	r.fatalf("starting agent %s: %v", d.name, err)
}

// stop shuts a device's agent down with SIGINT, as a user's Ctrl-C would.
func (r *oracleRun) stop(d *oDev) {
	p := d.proc
	if p == nil {
		return
	}
	d.proc = nil
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			r.errorf("agent %s exited with code %d after SIGINT:\n%s", d.name, code, tailFile(d.logPath, 20))
		}
	case <-time.After(30 * time.Second):
		r.errorf("agent %s did not stop within 30 s of SIGINT; killing it:\n%s", d.name, tailFile(d.logPath, 20))
		r.killProc(p)
	}
}

// kill SIGKILLs a device's agent: no chance to clean up.
func (r *oracleRun) kill(d *oDev) {
	if d.proc != nil {
		r.killProc(d.proc)
		d.proc = nil
	}
}

func (r *oracleRun) killProc(p *oProc) {
	p.cmd.Process.Kill()
	<-p.done
}

// checkAlive fails the test if an agent that should run has exited.
func (r *oracleRun) checkAlive() {
	r.t.Helper()
	for _, d := range r.devs {
		if d.proc == nil {
			continue
		}
		select {
		case <-d.proc.done:
			r.fatalf("agent %s exited on its own (%v) at op %d:\n%s", d.name, d.proc.cmd.ProcessState, r.opN, tailFile(d.logPath, 60))
		default:
		}
	}
}

func (r *oracleRun) client(d *oDev) (*admin.Client, error) {
	ep, err := admin.ReadEndpoint(d.home)
	if err != nil {
		return nil, err
	}
	return admin.NewClient(ep), nil
}

func (r *oracleRun) status(d *oDev) (model.Status, error) {
	c, err := r.client(d)
	if err != nil {
		return model.Status{}, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Status(ctx)
}

// folderStatus is the device's status of the oracle folder.
func (r *oracleRun) folderStatus(d *oDev) (model.FolderStatus, error) {
	c, err := r.client(d)
	if err != nil {
		return model.FolderStatus{}, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs, err := c.Folders(ctx)
	if err != nil {
		return model.FolderStatus{}, err
	}
	for _, f := range fs {
		if f.ID == oracleFolderID {
			return f, nil
		}
	}
	return model.FolderStatus{}, fmt.Errorf("folder %s not configured", oracleFolderID)
}

// tailFile returns the last n lines of a file.
func tailFile(p string, n int) string {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 4*n {
			lines = slices.Clone(lines[len(lines)-n:])
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// grepFile returns the lines of a file that contain any of the words, at most max.
func grepFile(p string, max int, words ...string) []string {
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		for _, w := range words {
			if strings.Contains(sc.Text(), w) {
				out = append(out, sc.Text())
				break
			}
		}
	}
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("... and %d more", len(out)-max))
	}
	return out
}

// ---------------------------------------------------------------------------
// The operation log and the content bookkeeping

// hashAt is a content seen at a path.
type hashAt struct{ path, hash string }

// opEntry is one user operation (or disruption) as the harness did it.
type opEntry struct {
	n      int
	at     time.Duration
	dev    string
	op     string
	path   string
	path2  string
	wrote  []hashAt // contents this operation wrote
	freed  []hashAt // contents it destroyed (released)
	note   string
	failed error // the operation could not be done (the file system moved under it)
}

func (e *opEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %6.2fs %s %s %s", e.n, e.at.Seconds(), e.dev, e.op, e.path)
	if e.path2 != "" {
		fmt.Fprintf(&b, " -> %s", e.path2)
	}
	for _, w := range e.wrote {
		fmt.Fprintf(&b, " wrote[%s]=%s", w.path, short(w.hash))
	}
	for _, f := range e.freed {
		fmt.Fprintf(&b, " freed[%s]=%s", f.path, short(f.hash))
	}
	if e.note != "" {
		fmt.Fprintf(&b, " (%s)", e.note)
	}
	if e.failed != nil {
		fmt.Fprintf(&b, " FAILED: %v", e.failed)
	}
	return b.String()
}

func (r *oracleRun) newEntry(d *oDev, op, p string) *opEntry {
	e := &opEntry{n: r.opN, at: time.Since(r.t0), op: op, path: p}
	if d != nil {
		e.dev = d.name
	}
	r.log = append(r.log, e)
	if *oracleVerbose {
		defer func() { r.t.Log(e.String()) }()
	}
	return e
}

// wrote records content a user operation wrote.
func (r *oracleRun) wrote(e *opEntry, rel string, data []byte) {
	h := hashOf(data)
	e.wrote = append(e.wrote, hashAt{rel, h})
	if _, ok := r.written[h]; !ok {
		r.written[h] = len(data)
	}
	if h != emptyHash {
		r.required[h] = true
	}
}

// freed records content a user operation destroyed.
func (r *oracleRun) freed(e *opEntry, rel string, data []byte) {
	if len(data) == 0 {
		return
	}
	h := hashOf(data)
	e.freed = append(e.freed, hashAt{rel, h})
	delete(r.required, h)
}

// history lists the operations that wrote or freed a content.
func (r *oracleRun) history(h string) []string {
	var out []string
	for _, e := range r.log {
		if slices.ContainsFunc(e.wrote, func(w hashAt) bool { return w.hash == h }) ||
			slices.ContainsFunc(e.freed, func(w hashAt) bool { return w.hash == h }) {
			out = append(out, e.String())
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// The user's file operations

var errSkip = errors.New("nothing to do")

// File names form a small namespace so that devices collide often.
var (
	oracleDirs  = []string{"", "d0", "d1", "d2", "d3", "d0/e0", "d0/e1", "d1/e0", "d1/e1", "d2/e0", "d2/e1", "d3/e0", "d3/e1"}
	oracleFiles = []string{"f0.txt", "f1.bin", "f2", "f3.md", "f4.txt", "f5.dat", "f6.log", "f7.txt"}
	oracleModes = []fs.FileMode{0o644, 0o644, 0o600, 0o755, 0o640}
)

func (r *oracleRun) randFilePath() string {
	return path.Join(oracleDirs[r.rng.IntN(len(oracleDirs))], oracleFiles[r.rng.IntN(len(oracleFiles))])
}

func (r *oracleRun) randDirPath() string {
	return oracleDirs[1+r.rng.IntN(len(oracleDirs)-1)]
}

// randContent returns content of a random size: mostly up to 300 KiB (a
// few chunks), sometimes tiny or empty, sometimes up to 2 MiB.
func (r *oracleRun) randContent() []byte {
	var n int
	switch x := r.rng.IntN(100); {
	case x < 4:
		n = 0
	case x < 20:
		n = 1 + r.rng.IntN(200)
	case x < 90:
		n = r.rng.IntN(300 << 10)
	default:
		n = 300<<10 + r.rng.IntN(1700<<10)
	}
	return r.randBytes(n)
}

func (r *oracleRun) randBytes(n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		v := r.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b[:n]
}

// diskList is what a device's folder holds, as the user sees it.
type diskList struct {
	files, links, dirs []string
}

func listDisk(root string) diskList {
	var l diskList
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if fsutil.Internal(rel) {
			if de.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case de.IsDir():
			l.dirs = append(l.dirs, rel)
		case de.Type()&fs.ModeSymlink != 0:
			l.links = append(l.links, rel)
		case de.Type().IsRegular():
			l.files = append(l.files, rel)
		}
		return nil
	})
	return l
}

func (r *oracleRun) pick(s []string) string { return s[r.rng.IntN(len(s))] }

// parentsOK reports whether every existing parent of rel is a real
// directory (a file or symlink in the way makes the operation pointless).
func parentsOK(root, rel string) bool {
	return fsutil.CheckParents(root, rel) == nil
}

// makeParents creates rel's parent directories, as a user saving into a
// new directory would.
func makeParents(d *oDev, rel string) error {
	if !parentsOK(d.dir, rel) {
		return errSkip
	}
	return os.MkdirAll(filepath.Dir(d.abs(rel)), 0o755)
}

// modify opens rel without following symlinks (creating it if asked),
// releases what it holds and lets fn change it through the same open file,
// so the content released is exactly the content changed. fn returns the
// new content.
func (r *oracleRun) modify(d *oDev, e *opEntry, rel string, create bool, fn func(f *os.File, old []byte) ([]byte, error)) error {
	if create {
		if err := makeParents(d, rel); err != nil {
			return err
		}
	}
	flags := os.O_RDWR | syscall.O_NOFOLLOW
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(d.abs(rel), flags, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return errSkip
	}
	old, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	r.freed(e, rel, old)
	data, err := fn(f, old)
	if err != nil {
		return err
	}
	r.wrote(e, rel, data)
	return f.Close()
}

// replaceWith writes data over rel in place (truncate, then write).
func replaceWith(data []byte) func(*os.File, []byte) ([]byte, error) {
	return func(f *os.File, _ []byte) ([]byte, error) {
		if err := f.Truncate(0); err != nil {
			return nil, err
		}
		if _, err := f.WriteAt(data, 0); err != nil {
			return nil, err
		}
		return data, nil
	}
}

// readNoFollow reads a regular file; ok is false for anything else.
func readNoFollow(abs string) (data []byte, ok bool) {
	f, err := fsutil.OpenNoFollow(abs)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	data, err = io.ReadAll(f)
	return data, err == nil
}

// opCreate writes a new file at a random path (or overwrites what is there).
func (r *oracleRun) opCreate(d *oDev, rel string) {
	e := r.newEntry(d, "create", rel)
	fi, err := os.Lstat(d.abs(rel))
	if err == nil && fi.IsDir() {
		e.failed = errSkip
		return
	}
	if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// The user replaces a symlink by a file.
		if err := os.Remove(d.abs(rel)); err != nil {
			e.failed = err
			return
		}
		e.note = "replaced a symlink"
	}
	e.failed = r.modify(d, e, rel, true, replaceWith(r.randContent()))
}

// opEdit overwrites an existing file: in place, or the way many editors
// save (write a temporary file, then rename it over the original).
func (r *oracleRun) opEdit(d *oDev, l diskList) {
	if len(l.files) == 0 {
		r.opCreate(d, r.randFilePath())
		return
	}
	rel := r.pick(l.files)
	data := r.randContent()
	if r.rng.IntN(3) > 0 {
		e := r.newEntry(d, "edit", rel)
		e.failed = r.modify(d, e, rel, false, replaceWith(data))
		return
	}
	e := r.newEntry(d, "edit-atomic", rel)
	abs := d.abs(rel)
	old, ok := readNoFollow(abs)
	fi, err := os.Lstat(abs)
	if !ok || err != nil {
		e.failed = errSkip
		return
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".swp")
	if err := os.WriteFile(tmp, data, fi.Mode().Perm()); err != nil {
		e.failed = err
		return
	}
	os.Chmod(tmp, fi.Mode().Perm())
	r.freed(e, rel, old)
	r.wrote(e, rel, data)
	if err := os.Rename(tmp, abs); err != nil {
		e.failed = err
		os.Remove(tmp)
	}
}

// opPatch changes some bytes of a file in place, keeping its size.
func (r *oracleRun) opPatch(d *oDev, l diskList) {
	if len(l.files) == 0 {
		return
	}
	rel := r.pick(l.files)
	e := r.newEntry(d, "patch", rel)
	e.failed = r.modify(d, e, rel, false, func(f *os.File, old []byte) ([]byte, error) {
		if len(old) == 0 {
			return nil, errSkip
		}
		off := r.rng.IntN(len(old))
		n := min(len(old)-off, 1+r.rng.IntN(16<<10))
		p := r.randBytes(n)
		if _, err := f.WriteAt(p, int64(off)); err != nil {
			return nil, err
		}
		data := slices.Clone(old)
		copy(data[off:], p)
		return data, nil
	})
}

// opAppend appends to a file.
func (r *oracleRun) opAppend(d *oDev, l diskList) {
	if len(l.files) == 0 {
		return
	}
	rel := r.pick(l.files)
	e := r.newEntry(d, "append", rel)
	extra := r.randBytes(1 + r.rng.IntN(100<<10))
	e.failed = r.modify(d, e, rel, false, func(f *os.File, old []byte) ([]byte, error) {
		if _, err := f.WriteAt(extra, int64(len(old))); err != nil {
			return nil, err
		}
		return append(slices.Clone(old), extra...), nil
	})
}

// opTruncate shortens a file.
func (r *oracleRun) opTruncate(d *oDev, l diskList) {
	if len(l.files) == 0 {
		return
	}
	rel := r.pick(l.files)
	e := r.newEntry(d, "truncate", rel)
	e.failed = r.modify(d, e, rel, false, func(f *os.File, old []byte) ([]byte, error) {
		if len(old) == 0 {
			return nil, errSkip
		}
		n := r.rng.IntN(len(old))
		if err := f.Truncate(int64(n)); err != nil {
			return nil, err
		}
		return old[:n], nil
	})
}

// opDelete deletes a file or symlink.
func (r *oracleRun) opDelete(d *oDev, l diskList) {
	all := append(slices.Clone(l.files), l.links...)
	if len(all) == 0 {
		return
	}
	rel := r.pick(all)
	e := r.newEntry(d, "delete", rel)
	if data, ok := readNoFollow(d.abs(rel)); ok {
		r.freed(e, rel, data)
	}
	e.failed = os.Remove(d.abs(rel))
}

// opRename moves a file or symlink to a random path, maybe into another
// directory, maybe over an existing file.
func (r *oracleRun) opRename(d *oDev, l diskList) {
	all := append(slices.Clone(l.files), l.links...)
	if len(all) == 0 {
		return
	}
	src, dst := r.pick(all), r.randFilePath()
	e := r.newEntry(d, "rename", src)
	e.path2 = dst
	if src == dst {
		e.failed = errSkip
		return
	}
	if fi, err := os.Lstat(d.abs(dst)); err == nil {
		if fi.IsDir() {
			e.failed = errSkip
			return
		}
		if data, ok := readNoFollow(d.abs(dst)); ok {
			r.freed(e, dst, data)
		}
	}
	if err := makeParents(d, dst); err != nil {
		e.failed = err
		return
	}
	e.failed = os.Rename(d.abs(src), d.abs(dst))
}

// opMkdir creates a directory (and its parents).
func (r *oracleRun) opMkdir(d *oDev, rel string) {
	e := r.newEntry(d, "mkdir", rel)
	if !parentsOK(d.dir, rel+"/x") {
		e.failed = errSkip
		return
	}
	e.failed = os.MkdirAll(d.abs(rel), 0o755)
}

// opRmdir deletes a whole directory tree, as `rm -r` does.
func (r *oracleRun) opRmdir(d *oDev, l diskList) {
	if len(l.dirs) == 0 {
		return
	}
	rel := r.pick(l.dirs)
	e := r.newEntry(d, "rm-r", rel)
	abs := d.abs(rel)
	// Sync may be writing into the tree meanwhile: retry like a user would.
	for range 5 {
		filepath.WalkDir(abs, func(p string, de fs.DirEntry, err error) error {
			if err == nil && de.Type().IsRegular() {
				if data, ok := readNoFollow(p); ok {
					sub, _ := filepath.Rel(d.dir, p)
					r.freed(e, filepath.ToSlash(sub), data)
				}
			}
			return nil
		})
		if e.failed = os.RemoveAll(abs); e.failed == nil {
			return
		}
	}
}

// opMoveDir renames a directory to a free random directory path.
func (r *oracleRun) opMoveDir(d *oDev, l diskList) {
	if len(l.dirs) == 0 {
		return
	}
	src, dst := r.pick(l.dirs), r.randDirPath()
	e := r.newEntry(d, "mv-dir", src)
	e.path2 = dst
	if dst == src || strings.HasPrefix(dst, src+"/") {
		e.failed = errSkip
		return
	}
	if _, err := os.Lstat(d.abs(dst)); err == nil || !parentsOK(d.dir, dst) {
		e.failed = errSkip
		return
	}
	if err := os.MkdirAll(filepath.Dir(d.abs(dst)), 0o755); err != nil {
		e.failed = err
		return
	}
	e.failed = os.Rename(d.abs(src), d.abs(dst))
}

// opChmod changes a file's permissions.
func (r *oracleRun) opChmod(d *oDev, l diskList) {
	if len(l.files) == 0 {
		return
	}
	rel := r.pick(l.files)
	mode := oracleModes[r.rng.IntN(len(oracleModes))]
	e := r.newEntry(d, "chmod", rel)
	e.note = fmt.Sprintf("%o", mode)
	if fi, err := os.Lstat(d.abs(rel)); err != nil || !fi.Mode().IsRegular() {
		e.failed = errSkip
		return
	}
	e.failed = os.Chmod(d.abs(rel), mode)
}

// opSymlink creates a dangling symlink at a free path.
func (r *oracleRun) opSymlink(d *oDev) {
	rel := r.randFilePath()
	target := fmt.Sprintf("t-%d", r.rng.IntN(8))
	e := r.newEntry(d, "symlink", rel)
	e.note = "-> " + target
	if _, err := os.Lstat(d.abs(rel)); err == nil {
		e.failed = errSkip
		return
	}
	if err := makeParents(d, rel); err != nil {
		e.failed = err
		return
	}
	e.failed = os.Symlink(target, d.abs(rel))
}

// opConflict edits the same path on two devices within a short interval.
func (r *oracleRun) opConflict() {
	i := r.rng.IntN(3)
	j := (i + 1 + r.rng.IntN(2)) % 3
	d1, d2 := r.devs[i], r.devs[j]
	rel := r.randFilePath()
	if l := listDisk(d1.dir); len(l.files) > 0 && r.rng.IntN(3) > 0 {
		rel = r.pick(l.files) // usually a file that exists, so both sides edit it
	}
	gap := time.Duration(r.rng.IntN(60)) * time.Millisecond
	e := r.newEntry(d1, "conflict-edit", rel)
	e.note = fmt.Sprintf("then %s after %v", d2.name, gap)
	e.failed = r.modify(d1, e, rel, true, replaceWith(r.randContent()))
	time.Sleep(gap) // pacing: the second edit lands before or while the first one syncs
	e2 := r.newEntry(d2, "conflict-edit", rel)
	e2.failed = r.modify(d2, e2, rel, true, replaceWith(r.randContent()))
}

// ---------------------------------------------------------------------------
// Snapshots

// oEntry is one path of a tree snapshot.
type oEntry struct {
	kind   byte // 'f' file, 'd' directory, 'l' symlink
	hash   string
	size   int64
	mode   fs.FileMode
	target string
}

func (e oEntry) String() string {
	switch e.kind {
	case 'd':
		return "dir"
	case 'l':
		return "link->" + e.target
	}
	return fmt.Sprintf("file %s %d bytes mode %o", short(e.hash), e.size, e.mode)
}

// oTree is a snapshot of a device's folder (Shoal's own files left out)
// plus what lies in its version archive and any temporary files.
type oTree struct {
	entries  map[string]oEntry
	archive  map[string]string // path under .shoal/versions → content hash
	temps    []string
	problems []string // entries that vanished or could not be read while walking
}

func snapshot(root string) oTree {
	t := oTree{entries: map[string]oEntry{}, archive: map[string]string{}}
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if err != nil {
			t.problems = append(t.problems, fmt.Sprintf("%s: %v", rel, err))
			return nil
		}
		if rel == "." {
			return nil
		}
		if rel == fsutil.StateDir {
			return fs.SkipDir
		}
		if strings.HasPrefix(de.Name(), fsutil.TempPrefix) {
			t.temps = append(t.temps, rel)
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			t.problems = append(t.problems, fmt.Sprintf("%s: %v", rel, err))
			return nil
		}
		switch {
		case fi.IsDir():
			t.entries[rel] = oEntry{kind: 'd'}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				t.problems = append(t.problems, fmt.Sprintf("%s: %v", rel, err))
				return nil
			}
			t.entries[rel] = oEntry{kind: 'l', target: target}
		case fi.Mode().IsRegular():
			data, ok := readNoFollow(p)
			if !ok {
				t.problems = append(t.problems, rel+": vanished while reading")
				return nil
			}
			t.entries[rel] = oEntry{kind: 'f', hash: hashOf(data), size: int64(len(data)), mode: fi.Mode().Perm()}
		}
		return nil
	})
	vroot := filepath.Join(root, fsutil.StateDir, "versions")
	filepath.WalkDir(vroot, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return nil
		}
		if data, ok := readNoFollow(p); ok {
			rel, _ := filepath.Rel(vroot, p)
			t.archive[filepath.ToSlash(rel)] = hashOf(data)
		}
		return nil
	})
	return t
}

// diffTrees lists how b differs from a, at most max lines.
func diffTrees(an string, a oTree, bn string, b oTree, max int) []string {
	var out []string
	for k, v := range a.entries {
		if w, ok := b.entries[k]; !ok {
			out = append(out, fmt.Sprintf("only on %s: %s (%s)", an, k, v))
		} else if v != w {
			out = append(out, fmt.Sprintf("differs: %s (%s: %s; %s: %s)", k, an, v, bn, w))
		}
	}
	for k, v := range b.entries {
		if _, ok := a.entries[k]; !ok {
			out = append(out, fmt.Sprintf("only on %s: %s (%s)", bn, k, v))
		}
	}
	slices.Sort(out)
	if len(out) > max {
		out = append(out[:max], fmt.Sprintf("... and %d more", len(out)-max))
	}
	return out
}

func isConflictCopy(rel string) bool { return strings.Contains(path.Base(rel), ".sync-conflict-") }

// ---------------------------------------------------------------------------
// Index versus disk

// checkIndex opens a stopped device's index read-only and compares its
// local records with the folder on disk. It returns the differences.
func checkIndex(d *oDev) []string {
	key, err := identity.Load(d.home)
	if err != nil {
		return []string{fmt.Sprintf("loading identity: %v", err)}
	}
	st, err := index.Open(filepath.Join(d.home, agent.IndexDir), index.Options{Local: key.ID(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return []string{fmt.Sprintf("opening index: %v", err)}
	}
	defer st.Close()
	ids, err := st.Folders()
	if err != nil || !slices.Contains(ids, oracleFolderID) {
		return []string{fmt.Sprintf("index has no folder %s: %v %v", oracleFolderID, ids, err)}
	}
	f, err := st.Folder(oracleFolderID)
	if err != nil {
		return []string{fmt.Sprintf("opening folder index: %v", err)}
	}
	var probs []string
	if err := f.Check(); err != nil {
		probs = append(probs, fmt.Sprintf("index consistency: %v", err))
	}
	live := map[string]bool{}
	err = f.WalkLocal("", func(lf index.LocalFile) error {
		r := lf.Info
		if r.Deleted {
			return nil
		}
		live[r.Name] = true
		fi, err := os.Lstat(d.abs(r.Name))
		if err != nil {
			probs = append(probs, fmt.Sprintf("record %s (%s): not on disk: %v", r.Name, r.Type, err))
			return nil
		}
		switch r.Type {
		case wire.FileType_FILE_TYPE_DIRECTORY:
			if !fi.IsDir() {
				probs = append(probs, fmt.Sprintf("record %s is a directory, disk has %v", r.Name, fi.Mode().Type()))
			}
		case wire.FileType_FILE_TYPE_SYMLINK:
			target, err := os.Readlink(d.abs(r.Name))
			if fi.Mode()&fs.ModeSymlink == 0 || err != nil || filepath.ToSlash(target) != r.SymlinkTarget {
				probs = append(probs, fmt.Sprintf("record %s is a symlink to %q, disk has %v %q", r.Name, r.SymlinkTarget, fi.Mode().Type(), target))
			}
		case wire.FileType_FILE_TYPE_FILE:
			mt := fi.ModTime()
			if !fi.Mode().IsRegular() || fi.Size() != r.Size || mt.Unix() != r.ModifiedS || int32(mt.Nanosecond()) != r.ModifiedNs ||
				uint32(fi.Mode().Perm()) != r.Permissions&0o777 {
				probs = append(probs, fmt.Sprintf("record %s: size %d mtime %d.%09d mode %o; disk: %v size %d mtime %d.%09d mode %o",
					r.Name, r.Size, r.ModifiedS, r.ModifiedNs, r.Permissions&0o777, fi.Mode().Type(), fi.Size(), mt.Unix(), mt.Nanosecond(), fi.Mode().Perm()))
			} else if data, ok := readNoFollow(d.abs(r.Name)); ok && len(r.Blocks) > 0 {
				// The blocks must describe what is on disk.
				var off int64
				for _, b := range r.Blocks {
					if b.Offset != off || off+int64(b.Size) > int64(len(data)) {
						probs = append(probs, fmt.Sprintf("record %s: block list does not cover the file", r.Name))
						break
					}
					h := sha256.Sum256(data[off : off+int64(b.Size)])
					if string(h[:]) != string(b.Hash) {
						probs = append(probs, fmt.Sprintf("record %s: block at %d does not match the file on disk", r.Name, off))
						break
					}
					off += int64(b.Size)
				}
			}
		default:
			probs = append(probs, fmt.Sprintf("record %s has type %v", r.Name, r.Type))
		}
		return nil
	})
	if err != nil {
		probs = append(probs, fmt.Sprintf("walking local records: %v", err))
	}
	l := listDisk(d.dir)
	for _, s := range [][]string{l.files, l.links, l.dirs} {
		for _, rel := range s {
			if !live[rel] {
				probs = append(probs, fmt.Sprintf("%s is on disk but has no live record", rel))
			}
		}
	}
	slices.Sort(probs)
	return probs
}

// ---------------------------------------------------------------------------
// Inspecting a kept run

var (
	oracleInspect     = flag.String("oracle.inspect", "", "TestOracleInspect: a run directory kept with -oracle.dir (PATH/SEED)")
	oracleInspectPath = flag.String("oracle.path", "", "TestOracleInspect: the folder path whose records to show")
)

// TestOracleInspect shows what each device's index says about one path of
// a kept run (agents must be stopped):
//
//	go test ./cmd/shoal -run TestOracleInspect -oracle.inspect=/tmp/o/42 -oracle.path=d1/f2 -v
func TestOracleInspect(t *testing.T) {
	if *oracleInspect == "" {
		t.Skip("needs -oracle.inspect")
	}
	names := map[uint64]string{}
	for _, n := range []string{"A", "B", "C"} {
		if key, err := identity.Load(filepath.Join(*oracleInspect, "home-"+n)); err == nil {
			names[key.ID().Uint64()] = n
		}
	}
	vec := func(v *wire.Vector) string {
		var parts []string
		for _, c := range v.GetCounters() {
			parts = append(parts, fmt.Sprintf("%s:%d", names[c.Id], c.Value))
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	rec := func(r *wire.FileInfo) string {
		if r == nil {
			return "none"
		}
		return fmt.Sprintf("%v deleted=%v size=%d mtime=%d.%09d mode=%o by=%s version=%s blocks=%s",
			r.Type, r.Deleted, r.Size, r.ModifiedS, r.ModifiedNs, r.Permissions, names[r.ModifiedBy], vec(r.Version), short(hex.EncodeToString(r.BlocksHash)))
	}
	for _, n := range []string{"A", "B", "C"} {
		home := filepath.Join(*oracleInspect, "home-"+n)
		key, err := identity.Load(home)
		if err != nil {
			t.Fatal(err)
		}
		st, err := index.Open(filepath.Join(home, agent.IndexDir), index.Options{Local: key.ID(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		f, err := st.Folder(oracleFolderID)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		lf, ok, err := f.Local(*oracleInspectPath)
		fmt.Fprintf(&b, "%s local: ", n)
		if ok {
			fmt.Fprintf(&b, "%s inode=%d\n", rec(lf.Info), lf.Inode)
		} else {
			fmt.Fprintf(&b, "none %v\n", err)
		}
		for _, o := range []string{"A", "B", "C"} {
			if o == n {
				continue
			}
			okey, _ := identity.Load(filepath.Join(*oracleInspect, "home-"+o))
			r, _, _ := f.Remote(okey.ID(), *oracleInspectPath)
			_, seq, _ := f.RemoteState(okey.ID())
			fmt.Fprintf(&b, "%s remote %s (max seq %d): %s\n", n, o, seq, rec(r))
		}
		g, ok, _ := f.Global(*oracleInspectPath)
		if ok {
			fmt.Fprintf(&b, "%s global: %s avail=%v\n", n, rec(g.Winner), g.Availability)
		}
		if fi, err := os.Lstat(filepath.Join(*oracleInspect, n, filepath.FromSlash(*oracleInspectPath))); err == nil {
			data, _ := readNoFollow(filepath.Join(*oracleInspect, n, filepath.FromSlash(*oracleInspectPath)))
			fmt.Fprintf(&b, "%s disk: size=%d mtime=%d.%09d mode=%o sha=%s\n", n, fi.Size(), fi.ModTime().Unix(), fi.ModTime().Nanosecond(), fi.Mode().Perm(), short(hashOf(data)))
		}
		t.Log(b.String())
		st.Close()
	}
}

// unwatchedDirs lists the directories of a running agent's folder that no
// inotify watch of the process covers (Linux only; nil elsewhere). A
// directory without a watch means local changes in it go unnoticed until
// the next full rescan.
func unwatchedDirs(pid int, root string) ([]string, error) {
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	watched := map[uint64]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil || target != "anon_inode:inotify" {
			continue
		}
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, fd.Name()))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(info), "\n") {
			for _, field := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(field, "ino:"); ok {
					if ino, err := strconv.ParseUint(v, 16, 64); err == nil {
						watched[ino] = true
					}
				}
			}
		}
	}
	var out []string
	filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if filepath.ToSlash(rel) == fsutil.StateDir {
			return fs.SkipDir
		}
		if fi, err := de.Info(); err == nil && !watched[fsutil.Inode(fi)] {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out, nil
}
