package plan

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoalsync/shoal/index"
	"github.com/shoalsync/shoal/transport/wire"
)

// The property tests are random. Every failure prints the seed that
// reproduces it; -plan.cases scales the number of cases (for long runs).
var (
	flagSeed  = flag.Uint64("plan.seed", 0, "seed of the random property tests (0: from the clock)")
	flagCases = flag.Int("plan.cases", 0, "simulation scenarios per device count and variant; single decisions are 20x that (0: the quick default)")
)

// testSeed returns the seed of a random test and arranges for it to be
// printed when the test fails.
func testSeed(t testing.TB) uint64 {
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: rerun with go test ./sync/plan -run '^%s$' -plan.seed=%d", seed, t.Name(), seed)
		}
	})
	return seed
}

// numCases is the number of random cases of a test: def by default,
// scale times -plan.cases when that is set.
func numCases(def, scale int) int {
	if *flagCases > 0 {
		return *flagCases * scale
	}
	return def
}

const (
	tFile = wire.FileType_FILE_TYPE_FILE
	tDir  = wire.FileType_FILE_TYPE_DIRECTORY
	tLink = wire.FileType_FILE_TYPE_SYMLINK
)

// inputGen makes random Inputs that hit every branch of Decide: versions
// over three devices in every relation, records of every type that often
// share content, and every combination of the disk and folder facts.
type inputGen struct {
	r   *rand.Rand
	ids [3]uint64
}

func newInputGen(seed uint64) *inputGen {
	return &inputGen{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

func (g *inputGen) pick(n int) int { return g.r.IntN(n) }

func (g *inputGen) chance(p float64) bool { return g.r.Float64() < p }

// newIDs draws three distinct device short IDs, sometimes small ones so
// that ModifiedBy ties and orderings vary.
func (g *inputGen) newIDs() {
	for {
		for i := range g.ids {
			if g.chance(0.5) {
				g.ids[i] = uint64(1 + g.pick(4))
			} else {
				g.ids[i] = g.r.Uint64() | 1
			}
		}
		if g.ids[0] != g.ids[1] && g.ids[1] != g.ids[2] && g.ids[0] != g.ids[2] {
			return
		}
	}
}

func (g *inputGen) vector() *wire.Vector {
	if g.chance(0.05) {
		return nil
	}
	v := &wire.Vector{}
	for _, id := range g.ids {
		if g.chance(0.6) {
			v.Counters = append(v.Counters, &wire.Counter{Id: id, Value: uint64(1 + g.pick(3))})
		}
	}
	index.Normalize(v)
	return v
}

// versions returns the local and global versions in a random relation.
func (g *inputGen) versions() (l, gv *wire.Vector) {
	b := g.vector()
	i, j := g.pick(3), g.pick(3)
	switch g.pick(5) {
	case 0: // equal
		return index.Clone(b), index.Clone(b)
	case 1: // local greater
		return index.Bump(b, g.ids[i]), b
	case 2: // local lesser
		return b, index.Bump(b, g.ids[i])
	case 3: // concurrent
		if i == j {
			j = (i + 1) % 3
		}
		return index.Bump(b, g.ids[i]), index.Bump(b, g.ids[j])
	}
	return b, g.vector()
}

// record returns a random record. Content comes from small pools, so two
// records often have the same data.
func (g *inputGen) record(v *wire.Vector) *wire.FileInfo {
	fi := &wire.FileInfo{
		Name:        "d/p",
		Type:        []wire.FileType{tFile, tFile, tDir, tLink}[g.pick(4)],
		Permissions: []uint32{0o644, 0o755}[g.pick(2)],
		ModifiedS:   int64(1 + g.pick(2)),
		ModifiedNs:  int32(g.pick(2)),
		ModifiedBy:  g.ids[g.pick(3)],
		Version:     v,
		Deleted:     g.chance(0.25),
	}
	switch fi.Type {
	case tFile:
		fi.Size = int64(g.pick(3))
		fi.BlocksHash = [][]byte{nil, {1}, {2}}[g.pick(3)]
	case tLink:
		fi.SymlinkTarget = []string{"a", "b"}[g.pick(2)]
		fi.Permissions = 0o777
	}
	return fi
}

// copyData gives dst the type and content of src (not the metadata).
func copyData(dst, src *wire.FileInfo) {
	dst.Type, dst.Size, dst.BlocksHash, dst.SymlinkTarget = src.Type, src.Size, slices.Clone(src.BlocksHash), src.SymlinkTarget
}

func (g *inputGen) input() Input {
	g.newIDs()
	lv, gv := g.versions()
	in := Input{Global: g.record(gv)}
	if !g.chance(0.15) {
		in.Local = g.record(lv)
		switch g.pick(4) {
		case 0: // same data, maybe other metadata
			copyData(in.Local, in.Global)
		case 1: // same data and metadata
			copyData(in.Local, in.Global)
			in.Local.Permissions, in.Local.ModifiedS, in.Local.ModifiedNs = in.Global.Permissions, in.Global.ModifiedS, in.Global.ModifiedNs
		}
	}
	if g.chance(0.5) {
		in.Disk = Disk(g.pick(3))
	}
	if g.chance(0.3) {
		in.Mode = Mode(g.pick(3))
	}
	in.Ignored = g.chance(0.1)
	if g.chance(0.1) {
		in.NameProblem = "reserved name"
	}
	if g.chance(0.5) {
		in.Holds = Holds{Live: g.chance(0.3), Unscanned: g.chance(0.2), Ignored: g.chance(0.2), Pending: g.chance(0.2)}
	}
	in.Archive = g.chance(0.5)
	return in
}

func cloneInput(in Input) Input {
	out := in
	out.Local, out.Global = deepClone(in.Local), deepClone(in.Global)
	return out
}

// deepClone copies every field Decide may read (proto.Clone is too slow
// under the race detector for this many cases).
func deepClone(fi *wire.FileInfo) *wire.FileInfo {
	if fi == nil {
		return nil
	}
	c := cloneRecord(fi)
	c.BlocksHash = slices.Clone(fi.BlocksHash)
	if fi.Version == nil {
		c.Version = nil
	}
	return c
}

// sameFields reports whether a and b are equal in every field deepClone
// copies, versions counter by counter.
func sameFields(a, b *wire.FileInfo) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Type == b.Type && a.Size == b.Size && a.Permissions == b.Permissions &&
		a.ModifiedS == b.ModifiedS && a.ModifiedNs == b.ModifiedNs && a.ModifiedBy == b.ModifiedBy &&
		a.Deleted == b.Deleted && a.SymlinkTarget == b.SymlinkTarget && bytes.Equal(a.BlocksHash, b.BlocksHash) &&
		(a.Version == nil) == (b.Version == nil) &&
		slices.EqualFunc(counters(a.Version), counters(b.Version), func(x, y *wire.Counter) bool { return x.Id == y.Id && x.Value == y.Value })
}

func fmtVector(v *wire.Vector) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, c := range counters(v) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%x:%d", c.Id, c.Value)
	}
	b.WriteByte(']')
	return b.String()
}

func counters(v *wire.Vector) []*wire.Counter {
	if v == nil {
		return nil
	}
	return v.Counters
}

func typeName(t wire.FileType) string {
	switch t {
	case tDir:
		return "dir"
	case tLink:
		return "symlink"
	}
	return "file"
}

// fmtRecord prints the fields of a record that matter to Decide.
func fmtRecord(fi *wire.FileInfo) string {
	if fi == nil {
		return "nil"
	}
	var b strings.Builder
	b.WriteString("{" + typeName(fi.Type))
	if fi.Deleted {
		b.WriteString(" deleted")
	}
	switch fi.Type {
	case tFile:
		fmt.Fprintf(&b, " size=%d hash=%x", fi.Size, fi.BlocksHash)
	case tLink:
		fmt.Fprintf(&b, " target=%q", fi.SymlinkTarget)
	}
	fmt.Fprintf(&b, " perm=%o mtime=%d.%d by=%x v=%s}", fi.Permissions, fi.ModifiedS, fi.ModifiedNs, fi.ModifiedBy, fmtVector(fi.Version))
	return b.String()
}

var diskNames = [...]string{"as-recorded", "changed", "missing"}
var modeNames = [...]string{"send-receive", "send-only", "receive-only"}

func fmtInput(in Input) string {
	rel := "-"
	if in.Local != nil && in.Global != nil {
		rel = index.Compare(in.Local.Version, in.Global.Version).String()
	}
	return fmt.Sprintf("Input{Local: %s, Global: %s, (local %s global), Disk: %s, Mode: %s, Ignored: %v, NameProblem: %q, Holds: %+v, Archive: %v}",
		fmtRecord(in.Local), fmtRecord(in.Global), rel, diskNames[in.Disk], modeNames[in.Mode], in.Ignored, in.NameProblem, in.Holds, in.Archive)
}

func fmtDecision(d Decision) string {
	s := d.Action.String()
	if d.Archive {
		s += "+archive"
	}
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	return s
}

// property is a rule every single decision must follow. check returns nil
// when the rule holds or does not apply to the input.
type property struct {
	name  string
	check func(in Input, d Decision) error
}

func relation(in Input) (index.Ordering, bool) {
	if in.Local == nil {
		return 0, false
	}
	return index.Compare(in.Local.Version, in.Global.Version), true
}

// inSync reports whether the local version is equal to or newer than the
// winner's: nothing is to be done.
func inSync(in Input) bool {
	o, ok := relation(in)
	return ok && (o == index.Equal || o == index.Greater)
}

func liveLocal(in Input) bool { return in.Local != nil && !in.Local.Deleted }

// contentDiffers reports whether a live local record and the winner hold
// different data (a deleted winner always differs).
func contentDiffers(l, g *wire.FileInfo) bool {
	return g.Deleted || l.Type != g.Type || l.Size != g.Size || !bytes.Equal(l.BlocksHash, g.BlocksHash) || l.SymlinkTarget != g.SymlinkTarget
}

func isOneOf(a Action, as ...Action) bool { return slices.Contains(as, a) }

var errViolated = errors.New("violated")

func violation(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errViolated}, args...)...)
}

var properties = []property{
	{"InSyncIsNone", func(in Input, d Decision) error {
		if inSync(in) && d.Action != None {
			return violation("local version equal or greater, want none")
		}
		return nil
	}},
	{"IgnoredIsSkip", func(in Input, d Decision) error {
		if in.Ignored && !inSync(in) && d.Action != Skip {
			return violation("ignored path, want skip")
		}
		return nil
	}},
	{"NameProblemIsSkip", func(in Input, d Decision) error {
		if in.NameProblem != "" && !inSync(in) && d.Action != Skip {
			return violation("name problem, want skip")
		}
		return nil
	}},
	{"ChangedDiskIsWait", func(in Input, d Decision) error {
		if in.Disk == Changed && !isOneOf(d.Action, None, Skip, Wait) {
			return violation("disk has an unscanned change, want wait")
		}
		return nil
	}},
	{"ConcurrentChangeKept", func(in Input, d Decision) error {
		o, ok := relation(in)
		if !ok || o != index.Concurrent || !liveLocal(in) || in.Disk != AsRecorded || !contentDiffers(in.Local, in.Global) {
			return nil
		}
		if in.Local.Type == tDir && in.Holds == (Holds{}) {
			return nil // an empty directory holds no content: it may give way
		}
		if isOneOf(d.Action, Replace, Delete, Create, Adopt, SetMeta) {
			return violation("a live concurrent local change with other content would be dropped (want conflict or keep)")
		}
		return nil
	}},
	{"ArchiveKeepsReplacedFiles", func(in Input, d Decision) error {
		if !in.Archive || !liveLocal(in) || in.Local.Type == tDir || in.Disk != AsRecorded || !contentDiffers(in.Local, in.Global) {
			return nil
		}
		if isOneOf(d.Action, Replace, Delete) && !d.Archive {
			return violation("a live local %s with other content is removed without archiving it", typeName(in.Local.Type))
		}
		if isOneOf(d.Action, Create, Adopt, SetMeta, Forget) {
			return violation("a live local %s with other content is overwritten or forgotten", typeName(in.Local.Type))
		}
		return nil
	}},
	{"SendOnlyLeavesDisk", func(in Input, d Decision) error {
		if in.Mode == SendOnly && !isOneOf(d.Action, None, Skip, Wait, Adopt) {
			return violation("send-only folder would change the disk")
		}
		return nil
	}},
	{"UnscannedDirStays", func(in Input, d Decision) error {
		if liveLocal(in) && in.Local.Type == tDir && in.Holds.Unscanned && isOneOf(d.Action, Delete, Replace) {
			return violation("a directory holding unscanned files is removed")
		}
		return nil
	}},
	{"IgnoredDirStays", func(in Input, d Decision) error {
		if liveLocal(in) && in.Local.Type == tDir && in.Holds.Ignored && isOneOf(d.Action, Delete, Replace) {
			return violation("a directory holding ignored files is removed")
		}
		return nil
	}},
	{"NonEmptyDirStays", func(in Input, d Decision) error {
		h := in.Holds
		if liveLocal(in) && in.Local.Type == tDir && (h.Live || h.Pending) && isOneOf(d.Action, Delete, Replace) {
			return violation("a directory that still holds files is removed")
		}
		return nil
	}},
	{"ArchiveOnlyFilesWhenAsked", func(in Input, d Decision) error {
		if !d.Archive {
			return nil
		}
		if !in.Archive || !isOneOf(d.Action, Replace, Delete) || !liveLocal(in) || in.Local.Type == tDir {
			return violation("archive flag on something other than a replaced or deleted file or symlink of an archiving folder")
		}
		return nil
	}},
	{"ReasonsGiven", func(in Input, d Decision) error {
		if isOneOf(d.Action, Skip, Wait, Defer) != (d.Reason != "") {
			return violation("a reason must be given exactly for skip, wait and defer")
		}
		return nil
	}},
	{"DeletedWinnerWritesNothing", func(in Input, d Decision) error {
		if in.Global.Deleted && isOneOf(d.Action, Create, Replace, Conflict, SetMeta) {
			return violation("a deleted winner cannot be written")
		}
		return nil
	}},
	{"NothingToKeepIsCreateOrAdopt", func(in Input, d Decision) error {
		if inSync(in) || in.Ignored || in.NameProblem != "" || in.Disk == Changed || in.Mode == SendOnly {
			return nil
		}
		if (!liveLocal(in) || in.Disk == Missing) && !isOneOf(d.Action, Create, Adopt) {
			return violation("no local version to keep, want create or adopt")
		}
		return nil
	}},
	{"SameStateIsAdopt", func(in Input, d Decision) error {
		if inSync(in) || in.Ignored || in.NameProblem != "" || in.Disk != AsRecorded || !liveLocal(in) || in.Global.Deleted {
			return nil
		}
		l, g := in.Local, in.Global
		if !contentDiffers(l, g) && l.Permissions == g.Permissions && (l.Type == tDir || (l.ModifiedS == g.ModifiedS && l.ModifiedNs == g.ModifiedNs)) &&
			d.Action != Adopt {
			return violation("the disk already holds the winner, want adopt")
		}
		return nil
	}},
}

// TestDecideProperties checks every property on many random inputs, and
// that Decide is deterministic, does not panic and does not change its
// input. Each property is a subtest that reports its smallest violation.
func TestDecideProperties(t *testing.T) {
	seed := testSeed(t)
	n := numCases(60_000, 20)
	if testing.Short() {
		n /= 10
	}
	g := newInputGen(seed)
	type found struct {
		in    Input
		d     Decision
		err   error
		count int
	}
	violations := make([]*found, len(properties))
	var actions [len(actionNames)]int
	start := time.Now()
	for i := range n {
		in := g.input()
		before := cloneInput(in)
		d, err := safeDecide(in)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, fmtInput(before))
		}
		if !sameFields(before.Local, in.Local) || !sameFields(before.Global, in.Global) {
			t.Fatalf("case %d: Decide changed its input\nbefore %s\nafter  %s", i, fmtInput(before), fmtInput(in))
		}
		if d2 := Decide(cloneInput(in)); d2 != d {
			t.Fatalf("case %d: not deterministic: %s then %s\n%s", i, fmtDecision(d), fmtDecision(d2), fmtInput(in))
		}
		actions[d.Action]++
		for k, p := range properties {
			if err := p.check(in, d); err != nil {
				v := violations[k]
				if v == nil {
					v = &found{in: in, d: d, err: err}
					violations[k] = v
				}
				v.count++
			}
		}
	}
	el := time.Since(start)
	t.Logf("%d decisions in %v (%.0f/s); actions: %s", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), fmtCounts(actions[:]))
	for k, p := range properties {
		t.Run(p.name, func(t *testing.T) {
			v := violations[k]
			if v == nil {
				return
			}
			in := shrinkInput(v.in, p)
			d := Decide(in)
			t.Errorf("%s in %d of %d cases; smallest input found:\n  %s\n  -> %s: %v", p.name, v.count, n, fmtInput(in), fmtDecision(d), p.check(in, d))
		})
	}
	// Every action must be reachable, or the generator misses branches.
	for a, c := range actions {
		if c == 0 {
			t.Errorf("no random input gave action %s: the generator misses a branch", Action(a))
		}
	}
}

func fmtCounts(counts []int) string {
	var parts []string
	for a, c := range counts {
		parts = append(parts, fmt.Sprintf("%s=%d", Action(a), c))
	}
	return strings.Join(parts, " ")
}

func safeDecide(in Input) (d Decision, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Decide panicked: %v", r)
		}
	}()
	return Decide(in), nil
}

// shrinkInput simplifies an input that violates p, one field at a time,
// while the violation remains, so the report shows the essential facts.
func shrinkInput(in Input, p property) Input {
	fails := func(c Input) bool { return p.check(c, Decide(c)) != nil }
	var steps []func(Input) Input
	set := func(f func(*Input)) {
		steps = append(steps, func(c Input) Input { c = cloneInput(c); f(&c); return c })
	}
	set(func(c *Input) { c.Holds = Holds{} })
	set(func(c *Input) { c.Holds.Live = false })
	set(func(c *Input) { c.Holds.Unscanned = false })
	set(func(c *Input) { c.Holds.Ignored = false })
	set(func(c *Input) { c.Holds.Pending = false })
	set(func(c *Input) { c.Ignored = false })
	set(func(c *Input) { c.NameProblem = "" })
	set(func(c *Input) { c.Mode = SendReceive })
	set(func(c *Input) { c.Disk = AsRecorded })
	set(func(c *Input) { c.Archive = false })
	for _, r := range []func(*Input) *wire.FileInfo{func(c *Input) *wire.FileInfo { return c.Local }, func(c *Input) *wire.FileInfo { return c.Global }} {
		set(func(c *Input) {
			if fi := r(c); fi != nil {
				fi.ModifiedS, fi.ModifiedNs = 0, 0
			}
		})
		set(func(c *Input) {
			if fi := r(c); fi != nil {
				fi.ModifiedBy = 0
			}
		})
		set(func(c *Input) {
			if fi := r(c); fi != nil && fi.Type != tLink {
				fi.Permissions = 0o644
			}
		})
		set(func(c *Input) {
			if fi := r(c); fi != nil {
				fi.Size = 0
			}
		})
		set(func(c *Input) {
			if fi := r(c); fi != nil {
				fi.BlocksHash = nil
			}
		})
	}
	set(func(c *Input) { c.Local = nil })
	// Small, canonical versions: keep the relation, renumber the devices.
	set(func(c *Input) {
		if c.Local == nil {
			return
		}
		switch index.Compare(c.Local.Version, c.Global.Version) {
		case index.Equal:
			c.Local.Version, c.Global.Version = vec(1, 1), vec(1, 1)
		case index.Greater:
			c.Local.Version, c.Global.Version = vec(1, 2), vec(1, 1)
		case index.Lesser:
			c.Local.Version, c.Global.Version = vec(1, 1), vec(1, 2)
		case index.Concurrent:
			c.Local.Version, c.Global.Version = vec(1, 1), vec(2, 1)
		}
	})
	for changed := true; changed; {
		changed = false
		for _, s := range steps {
			if c := s(in); fails(c) && fmtInput(c) != fmtInput(in) {
				in, changed = c, true
			}
		}
	}
	return in
}

func vec(pairs ...uint64) *wire.Vector {
	v := &wire.Vector{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Counters = append(v.Counters, &wire.Counter{Id: pairs[i], Value: pairs[i+1]})
	}
	index.Normalize(v)
	return v
}

// TestDecideExamples pins the decision for hand-made cases, one per rule.
func TestDecideExamples(t *testing.T) {
	file := func(hash byte, v *wire.Vector) *wire.FileInfo {
		return &wire.FileInfo{Name: "f", Type: tFile, Size: 1, BlocksHash: []byte{hash}, Permissions: 0o644, ModifiedS: 10, ModifiedBy: 1, Version: v}
	}
	dir := func(v *wire.Vector) *wire.FileInfo {
		return &wire.FileInfo{Name: "f", Type: tDir, Permissions: 0o755, ModifiedBy: 1, Version: v}
	}
	deleted := func(typ wire.FileType, v *wire.Vector) *wire.FileInfo {
		return &wire.FileInfo{Name: "f", Type: typ, Deleted: true, ModifiedBy: 2, Version: v}
	}
	chmod := func(fi *wire.FileInfo) *wire.FileInfo { fi.Permissions = 0o600; return fi }
	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{"equal", Input{Local: file(1, vec(1, 1)), Global: file(1, vec(1, 1))}, Decision{Action: None}},
		{"local newer", Input{Local: file(2, vec(1, 2)), Global: file(1, vec(1, 1))}, Decision{Action: None}},
		{"new file", Input{Global: file(1, vec(1, 1))}, Decision{Action: Create}},
		{"later edit", Input{Local: file(1, vec(1, 1)), Global: file(2, vec(1, 2)), Archive: true}, Decision{Action: Replace, Archive: true}},
		{"later edit, no archive", Input{Local: file(1, vec(1, 1)), Global: file(2, vec(1, 2))}, Decision{Action: Replace}},
		{"concurrent edit", Input{Local: file(1, vec(1, 2)), Global: file(2, vec(1, 1, 2, 1)), Archive: true}, Decision{Action: Conflict}},
		{"concurrent same edit", Input{Local: file(2, vec(1, 2)), Global: file(2, vec(1, 1, 2, 1))}, Decision{Action: Adopt}},
		{"chmod", Input{Local: file(1, vec(1, 1)), Global: chmod(file(1, vec(1, 2)))}, Decision{Action: SetMeta}},
		{"deletion", Input{Local: file(1, vec(1, 1)), Global: deleted(tFile, vec(1, 2)), Archive: true}, Decision{Action: Delete, Archive: true}},
		{"edit beats deletion", Input{Local: file(1, vec(1, 2)), Global: deleted(tFile, vec(1, 1, 2, 1))}, Decision{Action: Keep}},
		{"deleted here, edited there", Input{Local: deleted(tFile, vec(1, 2)), Global: file(2, vec(1, 1, 2, 1))}, Decision{Action: Create}},
		{"deleted both", Input{Local: deleted(tFile, vec(1, 2)), Global: deleted(tFile, vec(1, 1, 2, 1))}, Decision{Action: Adopt}},
		{"unscanned change", Input{Local: file(1, vec(1, 1)), Global: file(2, vec(1, 2)), Disk: Changed}, Decision{Action: Wait, Reason: "local change not scanned yet"}},
		{"unscanned deletion", Input{Local: file(1, vec(1, 1)), Global: file(2, vec(1, 2)), Disk: Missing}, Decision{Action: Create}},
		{"ignored", Input{Local: file(1, vec(1, 1)), Global: file(2, vec(1, 2)), Ignored: true}, Decision{Action: Skip, Reason: ReasonIgnored}},
		{"bad name", Input{Global: file(2, vec(1, 2)), NameProblem: "reserved"}, Decision{Action: Skip, Reason: ReasonUnsupported}},
		{"send-only", Input{Local: file(1, vec(1, 1)), Global: file(2, vec(1, 2)), Mode: SendOnly}, Decision{Action: Skip, Reason: ReasonSendOnly}},
		{"empty dir deleted", Input{Local: dir(vec(1, 1)), Global: deleted(tDir, vec(1, 2))}, Decision{Action: Delete}},
		{"dir with live files", Input{Local: dir(vec(1, 1)), Global: deleted(tDir, vec(1, 2)), Holds: Holds{Live: true}}, Decision{Action: Keep}},
		{"dir with pending deletions", Input{Local: dir(vec(1, 1)), Global: deleted(tDir, vec(1, 2)), Holds: Holds{Pending: true}}, Decision{Action: Defer, Reason: "directory still holds files being deleted"}},
		{"dir with new files", Input{Local: dir(vec(1, 1)), Global: deleted(tDir, vec(1, 2)), Holds: Holds{Unscanned: true, Live: true}}, Decision{Action: Wait, Reason: "directory holds files not scanned yet"}},
		{"dir with ignored files", Input{Local: dir(vec(1, 1)), Global: deleted(tDir, vec(1, 2)), Holds: Holds{Ignored: true}}, Decision{Action: Forget}},
		{"dir becomes file", Input{Local: dir(vec(1, 1)), Global: file(1, vec(1, 2)), Archive: true}, Decision{Action: Replace}},
		{"full dir concurrent with file", Input{Local: dir(vec(1, 2)), Global: file(1, vec(1, 1, 2, 1)), Holds: Holds{Live: true}}, Decision{Action: Conflict}},
		{"file becomes dir", Input{Local: file(1, vec(1, 1)), Global: dir(vec(1, 2)), Archive: true}, Decision{Action: Replace, Archive: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Decide(tt.in); got != tt.want {
				t.Fatalf("Decide = %s, want %s\n%s", fmtDecision(got), fmtDecision(tt.want), fmtInput(tt.in))
			}
		})
	}
}

func BenchmarkDecide(b *testing.B) {
	g := newInputGen(1)
	ins := make([]Input, 1024)
	for i := range ins {
		ins[i] = g.input()
	}
	var sink Action
	i := 0
	for b.Loop() {
		sink += Decide(ins[i&1023]).Action
		i++
	}
	_ = sink
}
