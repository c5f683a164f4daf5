package plan

import (
	"cmp"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/transport/wire"
)

// The convergence simulation: two or three devices start from a common
// synced tree, each makes random local changes recorded the way the
// scanner records them, and then they sync in rounds, every device
// applying Decide's answer for every path, until nothing changes. At that
// fixpoint all devices must hold the same tree, no content that a user
// left on a disk may be lost (it survives live, as a conflict copy or in a
// version archive), and every live file has its parent directories.
//
// Half the scenarios keep users busy during the first rounds: their
// changes are not scanned yet when the puller looks (Disk Changed or
// Missing, Holds.Unscanned). TestConvergenceStrict adds harder variants.

var (
	flagReplay = flag.String("plan.replay", "", "DEVICES:SEED[:noarchive][:lag] replays one simulation scenario and prints its trace")
	flagStrict = flag.Bool("plan.strict", false, "also run TestConvergenceStrict: no version archives, devices that learn of changes late")
)

// simMaxRounds bounds the sync rounds of a scenario: "always terminates".
// After lagRounds, lagging devices learn every change before each pass.
const (
	simMaxRounds = 50
	lagRounds    = 8
)

// entry is what a simulated disk holds at a path.
type entry struct {
	typ     wire.FileType
	content uint64 // files and symlinks: the content's id
	perm    uint32
	mtime   int64
}

type device struct {
	id      uint64
	tag     string // A, B, C in traces
	recs    map[string]*wire.FileInfo
	disk    map[string]entry
	archive []uint64 // content ids of replaced and deleted files
	// view holds what this device knows of each device's records (its own
	// entry unused): the devices' maps themselves when updates arrive at
	// once, else copies refreshed now and then (see sim.lag).
	view []map[string]*wire.FileInfo
}

// sim is one scenario: its devices, a logical clock and a trace.
type sim struct {
	r       *rand.Rand
	devs    []*device
	names   map[string]bool // every path any device has a record of
	clock   int64
	next    uint64 // next new content id
	changed bool   // something changed in the current round
	archive bool   // the folders keep replaced and deleted files
	trace   *strings.Builder
	ops     int // user operations done (a size for picking the smallest failure)
	stats   *simStats
	// busy scenarios have users change files during the first rounds,
	// unscanned when the puller looks (during is set meanwhile).
	busy, during bool
	// lag: each device learns the others' records only at the start of
	// some of its passes (always after round lagRounds), so it may decide
	// on an old winner. Without lag every change is seen at once.
	lag bool
	// left is the content that users left on the disks; heads the part of
	// it that no other device's record supersedes (see setup).
	left, heads map[contentKey]bool
}

// simStats counts what the scenarios did, to show that they exercise
// every decision.
type simStats struct {
	actions [len(actionNames)]int // decisions applied
	failed  [len(actionNames)]int // decisions the device could not apply (retried next round)
}

func (st *simStats) String() string {
	var parts []string
	for a, c := range st.actions {
		parts = append(parts, fmt.Sprintf("%s=%d", Action(a), c))
		if f := st.failed[a]; f > 0 {
			parts[len(parts)-1] += fmt.Sprintf("(%d failed)", f)
		}
	}
	return strings.Join(parts, " ")
}

func (s *sim) logf(format string, args ...any) {
	if s.trace != nil {
		fmt.Fprintf(s.trace, format+"\n", args...)
	}
}

func (s *sim) tick() {
	if s.r.IntN(4) != 0 { // sometimes not: equal mtimes exercise the tie-breaks
		s.clock++
	}
}

func (s *sim) tag(id uint64) string {
	for _, d := range s.devs {
		if d.id == id {
			return d.tag
		}
	}
	return strconv.FormatUint(id, 16)
}

// Records encode an entry's content id: a file's blocks hash is the id
// (and its size a few values, so sizes collide), a symlink's target "tID".

func recordOf(name string, e entry, by uint64, v *wire.Vector) *wire.FileInfo {
	fi := &wire.FileInfo{Name: name, Type: e.typ, Permissions: e.perm, ModifiedS: e.mtime, ModifiedBy: by, Version: v}
	switch e.typ {
	case tFile:
		fi.Size = int64(e.content % 4)
		fi.BlocksHash = binary.BigEndian.AppendUint64(nil, e.content)
	case tLink:
		fi.SymlinkTarget = "t" + strconv.FormatUint(e.content, 10)
	}
	return fi
}

func entryOf(fi *wire.FileInfo) entry {
	e := entry{typ: fi.Type, perm: fi.Permissions, mtime: fi.ModifiedS}
	switch fi.Type {
	case tFile:
		if len(fi.BlocksHash) == 8 {
			e.content = binary.BigEndian.Uint64(fi.BlocksHash)
		}
	case tLink:
		e.content, _ = strconv.ParseUint(strings.TrimPrefix(fi.SymlinkTarget, "t"), 10, 64)
	}
	return e
}

// matches reports whether the disk entry e is what the live record fi
// says, compared the way the scanner compares (directory modes are not).
func matches(e entry, fi *wire.FileInfo) bool {
	if e.typ != fi.Type {
		return false
	}
	r := entryOf(fi)
	switch e.typ {
	case tDir:
		return true
	case tLink:
		return e.content == r.content
	}
	return e.content == r.content && e.perm == r.perm && e.mtime == r.mtime
}

func cloneRecord(fi *wire.FileInfo) *wire.FileInfo {
	return &wire.FileInfo{
		Name: fi.Name, Type: fi.Type, Size: fi.Size, Permissions: fi.Permissions,
		ModifiedS: fi.ModifiedS, ModifiedNs: fi.ModifiedNs, ModifiedBy: fi.ModifiedBy,
		Version: index.Clone(fi.Version), Deleted: fi.Deleted, SymlinkTarget: fi.SymlinkTarget,
		BlocksHash: fi.BlocksHash,
	}
}

func sameRecord(a, b *wire.FileInfo) bool {
	return a.Deleted == b.Deleted && a.Type == b.Type && index.SameContent(a, b) &&
		a.ModifiedS == b.ModifiedS && a.ModifiedNs == b.ModifiedNs && a.ModifiedBy == b.ModifiedBy &&
		index.Compare(a.Version, b.Version) == index.Equal
}

func (s *sim) setRecord(d *device, p string, fi *wire.FileInfo) {
	if old := d.recs[p]; old != nil && sameRecord(old, fi) {
		return
	}
	d.recs[p] = fi
	s.names[p] = true
	s.changed = true
}

func (s *sim) setDisk(d *device, p string, e entry) {
	if old, ok := d.disk[p]; ok && old == e {
		return
	}
	d.disk[p] = e
	s.changed = true
}

func (s *sim) removeDisk(d *device, p string) {
	if _, ok := d.disk[p]; ok {
		delete(d.disk, p)
		s.changed = true
	}
}

// scan records every difference between the disk and the records as a
// local change, as the scanner does: a new version Bump(old, self)
// modified by this device.
func (s *sim) scan(d *device) {
	for _, p := range keysOf(s, d.disk) {
		e := d.disk[p]
		l := d.recs[p]
		if l != nil && !l.Deleted && matches(e, l) {
			continue
		}
		var v *wire.Vector
		if l != nil {
			v = l.Version
		}
		fi := recordOf(p, e, d.id, index.Bump(v, d.id))
		if s.trace != nil {
			s.logf("  %s scan: %s %s", d.tag, p, fmtRecord(fi))
		}
		s.setRecord(d, p, fi)
	}
	for _, p := range keysOf(s, d.recs) {
		l := d.recs[p]
		if _, ok := d.disk[p]; ok || l.Deleted {
			continue
		}
		fi := &wire.FileInfo{Name: p, Type: l.Type, Deleted: true, ModifiedS: s.clock, ModifiedBy: d.id, Version: index.Bump(l.Version, d.id)}
		if s.trace != nil {
			s.logf("  %s scan: %s %s", d.tag, p, fmtRecord(fi))
		}
		s.setRecord(d, p, fi)
	}
}

// keys returns the paths of m for a loop whose outcome does not depend on
// their order: sorted only when tracing, for a readable trace.
func keysOf[V any](s *sim, m map[string]V) []string {
	ks := slices.AppendSeq(make([]string, 0, len(m)), maps.Keys(m))
	if s.trace != nil {
		slices.Sort(ks)
	}
	return ks
}

// --- user operations ---

var childNames = []string{"a", "b", "c", "d"}

func depth(p string) int { return strings.Count(p, "/") }

func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func hasChildren(d *device, p string) bool {
	prefix := p + "/"
	for q := range d.disk {
		if strings.HasPrefix(q, prefix) {
			return true
		}
	}
	return false
}

func (s *sim) newContent() uint64 {
	if !s.during && s.r.IntN(10) == 0 {
		return uint64(1 + s.r.IntN(2)) // the same content written independently
	}
	s.next++
	return s.next
}

// wrote notes content a user wrote during the sync: it must survive.
func (s *sim) wrote(e entry) {
	if s.during && e.typ != tDir {
		k := contentKey{e.typ, e.content}
		s.left[k], s.heads[k] = true, true
	}
}

// dropped notes content a user removed during the sync: it may go.
func (s *sim) dropped(e entry) {
	if s.during && e.typ != tDir {
		k := contentKey{e.typ, e.content}
		delete(s.left, k)
		delete(s.heads, k)
	}
}

func pickOf[T any](r *rand.Rand, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[r.IntN(len(xs))], true
}

// userOp does one random local change on d's disk. build favours creating
// files and directories (for the common base).
func (s *sim) userOp(d *device, build bool) {
	var files, dirs, empty []string
	dirs = append(dirs, "")
	for _, p := range slices.Sorted(maps.Keys(d.disk)) {
		e := d.disk[p]
		if e.typ == tDir {
			if depth(p) < 2 {
				dirs = append(dirs, p)
			}
			if !hasChildren(d, p) {
				empty = append(empty, p)
			}
		} else {
			files = append(files, p)
		}
	}
	newPath := func() (string, bool) {
		dir, _ := pickOf(s.r, dirs)
		p := join(dir, childNames[s.r.IntN(len(childNames))])
		_, exists := d.disk[p]
		return p, !exists
	}
	newEntry := func() entry {
		if s.r.IntN(6) == 0 {
			return entry{typ: tLink, content: s.newContent(), perm: 0o777, mtime: s.clock}
		}
		return entry{typ: tFile, content: s.newContent(), perm: []uint32{0o644, 0o600}[s.r.IntN(2)], mtime: s.clock}
	}
	op := s.r.IntN(9)
	if build {
		op = []int{0, 0, 5, 5}[s.r.IntN(4)]
	}
	s.ops++
	switch op {
	case 0, 1: // create a file or symlink
		if p, ok := newPath(); ok {
			e := newEntry()
			s.logf("  %s user: create %s %s %d", d.tag, p, typeName(e.typ), e.content)
			s.setDisk(d, p, e)
			s.wrote(e)
		}
	case 2: // edit
		if p, ok := pickOf(s.r, files); ok {
			e := d.disk[p]
			s.dropped(e)
			e.content, e.mtime = s.newContent(), s.clock
			s.logf("  %s user: edit %s -> %d", d.tag, p, e.content)
			s.setDisk(d, p, e)
			s.wrote(e)
		}
	case 3: // delete
		if p, ok := pickOf(s.r, files); ok {
			s.logf("  %s user: delete %s", d.tag, p)
			s.dropped(d.disk[p])
			s.removeDisk(d, p)
		}
	case 4: // rename: the same content (and mtime) at a new path
		if p, ok := pickOf(s.r, files); ok {
			if q, ok := newPath(); ok {
				s.logf("  %s user: rename %s -> %s", d.tag, p, q)
				s.setDisk(d, q, d.disk[p])
				s.removeDisk(d, p)
			}
		}
	case 5: // mkdir
		if p, ok := newPath(); ok {
			s.logf("  %s user: mkdir %s", d.tag, p)
			s.setDisk(d, p, entry{typ: tDir, perm: 0o755, mtime: s.clock})
		}
	case 6: // rmdir of an empty directory
		if p, ok := pickOf(s.r, empty); ok {
			s.logf("  %s user: rmdir %s", d.tag, p)
			s.removeDisk(d, p)
		}
	case 7: // chmod a file
		if p, ok := pickOf(s.r, files); ok && d.disk[p].typ == tFile {
			e := d.disk[p]
			e.perm ^= 0o044
			s.logf("  %s user: chmod %s %o", d.tag, p, e.perm)
			s.setDisk(d, p, e)
		}
	case 8: // change the type: a file becomes a directory or the reverse
		if s.r.IntN(2) == 0 {
			if p, ok := pickOf(s.r, files); ok {
				s.logf("  %s user: replace file %s by a directory", d.tag, p)
				s.dropped(d.disk[p])
				s.setDisk(d, p, entry{typ: tDir, perm: 0o755, mtime: s.clock})
			}
		} else if p, ok := pickOf(s.r, empty); ok {
			e := newEntry()
			s.logf("  %s user: replace directory %s by %s %d", d.tag, p, typeName(e.typ), e.content)
			s.setDisk(d, p, e)
			s.wrote(e)
		}
	}
}

// --- syncing ---

// globalFor returns the winner of p as device d sees it: over its own
// record and what it knows of the others'.
func (s *sim) globalFor(d *device, p string) *wire.FileInfo {
	var recs [3]*wire.FileInfo
	n := 0
	for j, o := range s.devs {
		m := d.view[j]
		if o == d {
			m = d.recs
		}
		if fi := m[p]; fi != nil {
			recs[n] = fi
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return recs[index.SelectWinner(recs[:n])]
}

// refresh updates d's view of the others: all of it without lag, else
// each device's records with some chance until round lagRounds.
func (s *sim) refresh(d *device, round int) {
	for j, o := range s.devs {
		if o == d || !s.lag || (round <= lagRounds && s.r.IntN(2) == 0) {
			continue
		}
		if !maps.Equal(d.view[j], o.recs) {
			d.view[j] = maps.Clone(o.recs)
			s.changed = true
			s.logf("  %s learns %s's records", d.tag, o.tag)
		}
	}
}

// viewsCurrent reports whether every device knows every other's records.
func (s *sim) viewsCurrent() bool {
	for _, d := range s.devs {
		for j, o := range s.devs {
			if o != d && !maps.Equal(d.view[j], o.recs) {
				return false
			}
		}
	}
	return true
}

// global returns the winner of p over every device's record.
func (s *sim) global(p string) *wire.FileInfo {
	var recs [3]*wire.FileInfo
	n := 0
	for _, d := range s.devs {
		if fi := d.recs[p]; fi != nil {
			recs[n] = fi
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return recs[index.SelectWinner(recs[:n])]
}

// diskState compares d's disk at p with its record, as the puller's check
// does (see the Disk constants).
func diskState(d *device, p string, l, g *wire.FileInfo) Disk {
	e, ok := d.disk[p]
	if l != nil && !l.Deleted {
		switch {
		case !ok:
			return Missing
		case matches(e, l):
			return AsRecorded
		}
		return Changed
	}
	if !ok || (e.typ == tDir && !g.Deleted && g.Type == tDir) {
		return AsRecorded
	}
	return Changed
}

// holds says what is below p: Live, any path whose winner is live;
// Unscanned, entries on d's disk without a live local record; Pending,
// recorded entries on d's disk whose winner is deleted.
func (s *sim) holds(d *device, p string) Holds {
	var h Holds
	prefix := p + "/"
	for q := range s.names {
		if strings.HasPrefix(q, prefix) {
			if g := s.globalFor(d, q); g != nil && !g.Deleted {
				h.Live = true
				break
			}
		}
	}
	for q := range d.disk {
		if !strings.HasPrefix(q, prefix) {
			continue
		}
		if l := d.recs[q]; l == nil || l.Deleted {
			h.Unscanned = true
		} else if g := s.globalFor(d, q); g.Deleted {
			h.Pending = true
		}
	}
	return h
}

// input builds what Decide gets for p on d, or false when the index would
// not list p as needed (no local record and a deleted winner).
func (s *sim) input(d *device, p string) (Input, bool) {
	g := s.globalFor(d, p)
	l := d.recs[p]
	if g == nil || (l == nil && g.Deleted) {
		return Input{}, false
	}
	return Input{Local: l, Global: g, Disk: diskState(d, p, l, g), Mode: SendReceive, Holds: s.holds(d, p), Archive: s.archive}, true
}

// adopted is the local record after taking the winner: a copy of it,
// with the versions merged and bumped by the adopting device when ours was
// concurrent (as the engine's newRecord does).
func adopted(l, g *wire.FileInfo, self uint64) *wire.FileInfo {
	fi := cloneRecord(g)
	if l != nil && index.Compare(l.Version, g.Version) == index.Concurrent {
		fi.Version = index.Bump(index.Merge(l.Version, g.Version), self)
	}
	return fi
}

// mkParents creates the missing parent directories of p, as MkdirAll
// does; it fails when one of them is not a directory.
func (s *sim) mkParents(d *device, p string) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '/' {
			continue
		}
		a := p[:i]
		e, ok := d.disk[a]
		if !ok {
			s.setDisk(d, a, entry{typ: tDir, perm: 0o755, mtime: s.clock})
			continue
		}
		if e.typ != tDir {
			return false
		}
	}
	return true
}

// install writes the live winner g at p, where nothing may be, except a
// directory when g is one.
func (s *sim) install(d *device, p string, g *wire.FileInfo) bool {
	e := entryOf(g)
	if cur, ok := d.disk[p]; ok {
		if cur.typ != tDir || g.Type != tDir {
			return false // the engine's no-replace rename fails: rescan
		}
		e.mtime = cur.mtime
	}
	s.setDisk(d, p, e)
	return true
}

func (s *sim) archiveEntry(d *device, e entry) {
	if e.typ != tDir {
		d.archive = append(d.archive, e.content)
		s.changed = true
	}
}

// conflictName is the name of the conflict copy of a losing version.
func conflictName(p string, mtime int64, by uint64) string {
	return fmt.Sprintf("%s.sync-conflict-%d-%x", p, mtime, by)
}

// moveAside renames what is at p (with everything below it) to the
// conflict name of the local version l, or drops it when the same content
// is already saved there.
func (s *sim) moveAside(d *device, p string, l *wire.FileInfo) bool {
	cur, ok := d.disk[p]
	if !ok {
		return true
	}
	base := conflictName(p, l.ModifiedS, l.ModifiedBy)
	for i := 0; i <= 100; i++ {
		cn := base
		if i > 0 {
			cn = fmt.Sprintf("%s~%d", base, i)
		}
		if ex, ok := d.disk[cn]; ok {
			if ex.typ != tDir && ex.typ == cur.typ && ex.content == cur.content {
				s.logf("    same conflict copy already at %s", cn)
				s.removeDisk(d, p)
				return true
			}
			continue
		}
		prefix := p + "/"
		for _, q := range slices.Sorted(maps.Keys(d.disk)) {
			if q == p || strings.HasPrefix(q, prefix) {
				s.setDisk(d, cn+q[len(p):], d.disk[q])
				s.removeDisk(d, q)
			}
		}
		s.logf("    moved to %s", cn)
		return true
	}
	return false
}

// apply carries out dec for p on d the way the engine does, and reports
// whether it could.
func (s *sim) apply(d *device, p string, in Input, dec Decision) bool {
	l, g := in.Local, in.Global
	switch dec.Action {
	case None, Wait, Defer, Skip:
		return true
	case Adopt, Forget:
		s.setRecord(d, p, adopted(l, g, d.id))
	case SetMeta:
		e, ok := d.disk[p]
		if !ok {
			return false
		}
		e.perm = g.Permissions
		if g.Type == tFile {
			e.mtime = g.ModifiedS
		}
		s.setDisk(d, p, e)
		s.setRecord(d, p, adopted(l, g, d.id))
	case Create:
		if g.Deleted || !s.mkParents(d, p) || !s.install(d, p, g) {
			return false
		}
		s.setRecord(d, p, adopted(l, g, d.id))
	case Replace:
		if g.Deleted || !s.mkParents(d, p) {
			return false
		}
		if cur, ok := d.disk[p]; ok {
			if cur.typ == tDir {
				if hasChildren(d, p) {
					return false // only an empty directory gives way
				}
			} else if dec.Archive {
				s.archiveEntry(d, cur)
			}
			s.removeDisk(d, p)
		}
		if !s.install(d, p, g) {
			return false
		}
		s.setRecord(d, p, adopted(l, g, d.id))
	case Conflict:
		if g.Deleted || l == nil || !s.mkParents(d, p) || !s.moveAside(d, p, l) || !s.install(d, p, g) {
			return false
		}
		s.setRecord(d, p, adopted(l, g, d.id))
	case Delete:
		if cur, ok := d.disk[p]; ok {
			if cur.typ == tDir && hasChildren(d, p) {
				return false // the directory is not empty; kept
			}
			if dec.Archive {
				s.archiveEntry(d, cur)
			}
			s.removeDisk(d, p)
		}
		s.setRecord(d, p, adopted(l, g, d.id))
	case Keep:
		fi := cloneRecord(l)
		fi.Version = index.Bump(index.Merge(l.Version, g.Version), d.id)
		s.setRecord(d, p, fi)
	default:
		return false
	}
	return true
}

// pass is one device's pull over every path, in random order, followed
// by the scan the engine requests after it.
func (s *sim) pass(d *device) {
	names := slices.Sorted(maps.Keys(s.names))
	s.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, p := range names {
		in, ok := s.input(d, p)
		if !ok {
			continue
		}
		dec := Decide(in)
		if dec.Action == None {
			continue
		}
		ok = s.apply(d, p, in, dec)
		if s.stats != nil {
			s.stats.actions[dec.Action]++
			if !ok {
				s.stats.failed[dec.Action]++
			}
		}
		if s.trace != nil {
			res := ""
			if !ok {
				res = " FAILED"
			}
			s.logf("  %s %s: %s%s\n      local  %s\n      global %s\n      disk %s holds %+v", d.tag, p, fmtDecision(dec), res,
				fmtRecord(in.Local), fmtRecord(in.Global), diskNames[in.Disk], in.Holds)
		}
	}
	s.scan(d)
}

type contentKey struct {
	typ     wire.FileType
	content uint64
}

func newSim(sc scenario, trace bool) *sim {
	s := &sim{r: rand.New(rand.NewPCG(sc.seed, 0x51dd)), names: map[string]bool{}, next: 10, archive: sc.archive, lag: sc.lag}
	s.busy = s.r.IntN(2) == 0
	devices := sc.devices
	if trace {
		s.trace = &strings.Builder{}
	}
	ids := map[uint64]bool{}
	for i := range devices {
		id := s.r.Uint64()
		if s.r.IntN(2) == 0 {
			id = uint64(1 + s.r.IntN(8))
		}
		if id == 0 || ids[id] {
			id = uint64(100 + i)
		}
		ids[id] = true
		s.devs = append(s.devs, &device{id: id, tag: string(rune('A' + i)), recs: map[string]*wire.FileInfo{}, disk: map[string]entry{}})
	}
	for _, d := range s.devs {
		for _, o := range s.devs {
			d.view = append(d.view, o.recs) // replaced by copies in setup when lagging
		}
	}
	return s
}

// setup builds the common synced base (changes made by random devices on
// one shared tree, then copied to all) and the devices' local changes.
// It returns every content left on a disk by the users, and among those
// the heads: content whose record no other device's record of the path
// supersedes (a later or concurrent change nobody has seen yet).
func (s *sim) setup() {
	for _, d := range s.devs {
		s.logf("device %s = %x", d.tag, d.id)
	}
	if s.busy {
		s.logf("users stay busy during the first rounds")
	}
	if s.lag {
		s.logf("devices learn of changes late")
	}
	s.logf("base:")
	base := &device{tag: "base", recs: map[string]*wire.FileInfo{}, disk: map[string]entry{}}
	for range 2 + s.r.IntN(16) {
		base.id = s.devs[s.r.IntN(len(s.devs))].id
		s.tick()
		s.userOp(base, s.r.IntN(3) != 0)
		s.scan(base)
	}
	for _, d := range s.devs {
		for p, fi := range base.recs {
			d.recs[p] = cloneRecord(fi)
		}
		maps.Copy(d.disk, base.disk)
	}
	if s.lag {
		// Everyone knows the base; local changes arrive later.
		for _, d := range s.devs {
			for j, o := range s.devs {
				d.view[j] = maps.Clone(o.recs)
			}
		}
	}
	s.logf("local changes:")
	for range 1 + s.r.IntN(5*len(s.devs)) {
		d := s.devs[s.r.IntN(len(s.devs))]
		s.tick()
		s.userOp(d, false)
		if s.r.IntN(10) < 7 {
			s.scan(d)
		}
	}
	for _, d := range s.devs {
		s.scan(d)
	}
	left, heads := map[contentKey]bool{}, map[contentKey]bool{}
	for _, d := range s.devs {
		for p, e := range d.disk {
			if e.typ == tDir {
				continue
			}
			k := contentKey{e.typ, e.content}
			left[k] = true
			superseded := false
			for _, o := range s.devs {
				if r := o.recs[p]; r != nil && index.Compare(d.recs[p].Version, r.Version) == index.Lesser {
					superseded = true
				}
			}
			if !superseded {
				heads[k] = true
			}
		}
	}
	s.left, s.heads = left, heads
}

// run syncs to a fixpoint and returns the number of rounds, or an error
// when there is none within simMaxRounds.
func (s *sim) run() (int, error) {
	for round := 1; round <= simMaxRounds; round++ {
		s.changed = false
		s.tick()
		s.logf("round %d:", round)
		for _, i := range s.r.Perm(len(s.devs)) {
			if s.busy && round <= 3 && s.r.IntN(3) == 0 {
				s.during = true
				s.userOp(s.devs[i], false)
				s.during = false
			}
			s.refresh(s.devs[i], round)
			s.pass(s.devs[i])
		}
		if !s.changed && s.viewsCurrent() {
			return round, nil
		}
	}
	return simMaxRounds, fmt.Errorf("no fixpoint after %d rounds", simMaxRounds)
}

// check verifies the state at the fixpoint. The content in left must
// survive on a disk or, when the folders keep them, in an archive.
func (s *sim) check(left map[contentKey]bool) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for _, p := range slices.Sorted(maps.Keys(s.names)) {
		g := s.global(p)
		for _, d := range s.devs {
			l := d.recs[p]
			switch {
			case l == nil:
				if !g.Deleted {
					fail("%s: device %s has no record of the live winner %s", p, d.tag, fmtRecord(g))
				}
			case index.Compare(l.Version, g.Version) != index.Equal:
				fail("%s: device %s has %s, the winner is %s", p, d.tag, fmtRecord(l), fmtRecord(g))
			case !sameRecord(l, g):
				fail("%s: device %s has %s with the winner's version but not its content %s", p, d.tag, fmtRecord(l), fmtRecord(g))
			}
		}
	}
	for _, d := range s.devs {
		for _, p := range slices.Sorted(maps.Keys(d.recs)) {
			l := d.recs[p]
			e, ok := d.disk[p]
			switch {
			case l.Deleted && ok:
				fail("%s: device %s has %s on disk and a deleted record", p, d.tag, typeName(e.typ))
			case !l.Deleted && !ok:
				fail("%s: device %s has a live record and nothing on disk", p, d.tag)
			case !l.Deleted && !matches(e, l):
				fail("%s: device %s has %+v on disk, recorded %s", p, d.tag, e, fmtRecord(l))
			}
			if l.Deleted {
				continue
			}
			for a := parent(p); a != ""; a = parent(a) {
				if r := d.recs[a]; r == nil || r.Deleted || r.Type != tDir || d.disk[a].typ != tDir {
					fail("%s: device %s has it live but its directory %s is missing (record %s)", p, d.tag, a, fmtRecord(r))
				}
			}
		}
		for p := range d.disk {
			if d.recs[p] == nil {
				fail("%s: device %s has it on disk without a record", p, d.tag)
			}
		}
	}
	kept := map[contentKey]bool{}
	for _, d := range s.devs {
		for _, e := range d.disk {
			kept[contentKey{e.typ, e.content}] = true
		}
		if !s.archive {
			continue
		}
		for _, c := range d.archive {
			kept[contentKey{tFile, c}] = true
			kept[contentKey{tLink, c}] = true
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(left), func(a, b contentKey) int { return cmp.Or(cmp.Compare(a.content, b.content), cmp.Compare(a.typ, b.typ)) }) {
		if !kept[k] {
			fail("content %s %d was left on a disk by a user and is lost", typeName(k.typ), k.content)
		}
	}
	return errs
}

func (s *sim) dump() {
	if s.trace == nil {
		return
	}
	s.logf("final state:")
	for _, d := range s.devs {
		s.logf("  device %s (%x) archive %v", d.tag, d.id, d.archive)
		for _, p := range slices.Sorted(maps.Keys(d.recs)) {
			e, ok := d.disk[p]
			disk := "-"
			if ok {
				disk = fmt.Sprintf("%s %d %o mt=%d", typeName(e.typ), e.content, e.perm, e.mtime)
			}
			s.logf("    %-40s %s | disk %s", p, fmtRecord(d.recs[p]), disk)
		}
	}
}

type scenarioResult struct {
	rounds int
	ops    int
	errs   []string
	trace  string
}

// scenario is what a simulation scenario depends on.
type scenario struct {
	devices int
	archive bool // the folders keep version archives
	lag     bool // devices learn of changes late (see sim.lag)
	seed    uint64
}

// String gives the scenario in -plan.replay's form:
// DEVICES:SEED[:noarchive][:lag].
func (sc scenario) String() string {
	s := fmt.Sprintf("%d:%d", sc.devices, sc.seed)
	if !sc.archive {
		s += ":noarchive"
	}
	if sc.lag {
		s += ":lag"
	}
	return s
}

func parseScenario(s string) (scenario, error) {
	parts := strings.Split(s, ":")
	sc := scenario{archive: true}
	bad := fmt.Errorf("scenario %q: want DEVICES:SEED[:noarchive][:lag]", s)
	if len(parts) < 2 {
		return sc, bad
	}
	var err1, err2 error
	sc.devices, err1 = strconv.Atoi(parts[0])
	sc.seed, err2 = strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || sc.devices < 1 || sc.devices > 3 {
		return sc, bad
	}
	for _, o := range parts[2:] {
		switch o {
		case "noarchive":
			sc.archive = false
		case "lag":
			sc.lag = true
		default:
			return sc, bad
		}
	}
	return sc, nil
}

// runScenario runs one scenario; with trace it records what happened.
func runScenario(sc scenario, trace bool, stats *simStats) (res scenarioResult) {
	s := newSim(sc, trace)
	s.stats = stats
	defer func() {
		if r := recover(); r != nil {
			res.errs = append(res.errs, fmt.Sprintf("panic: %v", r))
		}
		res.ops = s.ops
		if s.trace != nil {
			s.dump()
			res.trace = s.trace.String()
		}
	}()
	s.setup()
	rounds, err := s.run()
	res.rounds = rounds
	if err != nil {
		res.errs = append(res.errs, err.Error())
		return res
	}
	left := s.left
	if !sc.archive {
		// Without archives only superseded content may go.
		left = s.heads
	}
	res.errs = s.check(left)
	return res
}

// TestConvergence runs the simulation with two and three devices.
func TestConvergence(t *testing.T) {
	if *flagReplay != "" {
		sc, err := parseScenario(*flagReplay)
		if err != nil {
			t.Fatal(err)
		}
		res := runScenario(sc, true, nil)
		t.Logf("trace:\n%s", res.trace)
		for _, e := range res.errs {
			t.Error(e)
		}
		return
	}
	for _, devices := range []int{2, 3} {
		t.Run(fmt.Sprintf("devices=%d", devices), func(t *testing.T) {
			testConvergence(t, scenario{devices: devices, archive: true})
		})
	}
}

// TestConvergenceStrict (with -plan.strict) runs harder variants of the
// simulation, which currently find the problems reported with them:
//   - noarchive: the folders keep no version archive, so a user's content
//     must survive live or as a conflict copy (content an edit or deletion
//     on another device superseded may go);
//   - lag: devices learn of each other's changes only now and then, so they
//     decide on old winners, as over a real network.
func TestConvergenceStrict(t *testing.T) {
	if !*flagStrict {
		t.Skip("run with -plan.strict")
	}
	for _, v := range []scenario{{archive: false}, {archive: true, lag: true}} {
		name := "lag"
		if !v.archive {
			name = "noarchive"
		}
		for _, devices := range []int{2, 3} {
			t.Run(fmt.Sprintf("%s/devices=%d", name, devices), func(t *testing.T) {
				v.devices = devices
				testConvergence(t, v)
			})
		}
	}
}

// testConvergence runs many scenarios like sc (with random seeds) and
// reports the smallest failing one with its trace.
func testConvergence(t *testing.T, sc scenario) {
	seed := testSeed(t)
	n := numCases(2000, 1)
	if testing.Short() {
		n /= 10
	}
	master := rand.New(rand.NewPCG(seed, uint64(sc.devices)))
	var (
		failures, rounds, maxRounds int
		smallest                    *scenarioResult
		smallestSc                  scenario
		stats                       simStats
	)
	start := time.Now()
	for range n {
		sc.seed = master.Uint64()
		res := runScenario(sc, false, &stats)
		rounds += res.rounds
		maxRounds = max(maxRounds, res.rounds)
		if len(res.errs) == 0 {
			continue
		}
		failures++
		if smallest == nil || res.ops < smallest.ops {
			smallest, smallestSc = &res, sc
		}
	}
	el := time.Since(start)
	t.Logf("%d scenarios in %v (%.0f/s), %.2f rounds on average, at most %d", n, el.Round(time.Millisecond),
		float64(n)/el.Seconds(), float64(rounds)/float64(n), maxRounds)
	t.Logf("decisions applied: %s", &stats)
	if smallest != nil {
		res := runScenario(smallestSc, true, nil)
		t.Errorf("%d of %d scenarios fail; the smallest (replay with -run '^TestConvergence$' -plan.replay=%s):\n%s\ntrace:\n%s",
			failures, n, smallestSc, strings.Join(res.errs, "\n"), res.trace)
	}
}

// planBatch decides every input of a batch in the given order, as a
// puller plans one pass, keyed by path.
func planBatch(ins []Input, order []int) map[string]Decision {
	out := make(map[string]Decision, len(ins))
	for _, i := range order {
		out[ins[i].Global.Name] = Decide(ins[i])
	}
	return out
}

// TestBatchOrderIndependent plans realistic batches (one device's needed
// paths midway through a simulated sync) in many orders: the decisions
// must not depend on the order.
func TestBatchOrderIndependent(t *testing.T) {
	seed := testSeed(t)
	master := rand.New(rand.NewPCG(seed, 7))
	n := numCases(1000, 1)
	for range n {
		sd := master.Uint64()
		s := newSim(scenario{devices: 2 + master.IntN(2), archive: true, lag: master.IntN(2) == 0, seed: sd}, false)
		s.busy = false
		s.setup()
		for range master.IntN(3) {
			s.changed = false
			s.tick()
			for _, d := range s.devs {
				s.pass(d)
			}
		}
		d := s.devs[master.IntN(len(s.devs))]
		var ins []Input
		for _, p := range slices.Sorted(maps.Keys(s.names)) {
			if in, ok := s.input(d, p); ok {
				ins = append(ins, in)
			}
		}
		order := make([]int, len(ins))
		for i := range order {
			order[i] = i
		}
		want := planBatch(ins, order)
		for k := range 4 {
			if k == 0 {
				slices.Reverse(order)
			} else {
				master.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			}
			got := planBatch(ins, order)
			for _, in := range ins {
				p := in.Global.Name
				if got[p] != want[p] {
					t.Fatalf("scenario %d: %s decided %s in one order and %s in another\n%s", sd, p, fmtDecision(want[p]), fmtDecision(got[p]), fmtInput(in))
				}
			}
		}
	}
}
