package index

import (
	"bytes"
	"slices"

	"github.com/shoalsync/shoal/transport/wire"
)

// Ordering is the result of comparing two version vectors.
type Ordering int

const (
	Equal      Ordering = iota // same counters
	Greater                    // a strictly dominates b
	Lesser                     // b strictly dominates a
	Concurrent                 // neither dominates: a conflict
)

func (o Ordering) String() string {
	return [...]string{"equal", "greater", "lesser", "concurrent"}[o]
}

func counters(v *wire.Vector) []*wire.Counter {
	if v == nil {
		return nil
	}
	return v.Counters
}

// Compare compares two version vectors. Missing counters count as zero.
// Both vectors must be sorted by id (Normalize makes them so).
func Compare(a, b *wire.Vector) Ordering {
	ac, bc := counters(a), counters(b)
	greater, lesser := false, false
	i, j := 0, 0
	for i < len(ac) || j < len(bc) {
		var av, bv uint64
		switch {
		case j >= len(bc) || (i < len(ac) && ac[i].Id < bc[j].Id):
			av = ac[i].Value
			i++
		case i >= len(ac) || bc[j].Id < ac[i].Id:
			bv = bc[j].Value
			j++
		default:
			av, bv = ac[i].Value, bc[j].Value
			i++
			j++
		}
		if av > bv {
			greater = true
		} else if bv > av {
			lesser = true
		}
	}
	switch {
	case greater && lesser:
		return Concurrent
	case greater:
		return Greater
	case lesser:
		return Lesser
	}
	return Equal
}

// Bump returns a copy of v with the counter of id raised above every counter
// in v, so the result dominates v. Using max+1 rather than +1 keeps vectors
// meaningful after a device's index is reset.
func Bump(v *wire.Vector, id uint64) *wire.Vector {
	var max uint64
	for _, c := range counters(v) {
		max = maxU(max, c.Value)
	}
	out := Clone(v)
	for _, c := range out.Counters {
		if c.Id == id {
			c.Value = max + 1
			return out
		}
	}
	out.Counters = append(out.Counters, &wire.Counter{Id: id, Value: max + 1})
	Normalize(out)
	return out
}

// Merge returns the element-wise maximum of a and b.
func Merge(a, b *wire.Vector) *wire.Vector {
	out := Clone(a)
	for _, c := range counters(b) {
		found := false
		for _, o := range out.Counters {
			if o.Id == c.Id {
				o.Value = maxU(o.Value, c.Value)
				found = true
				break
			}
		}
		if !found {
			out.Counters = append(out.Counters, &wire.Counter{Id: c.Id, Value: c.Value})
		}
	}
	Normalize(out)
	return out
}

// Clone deep-copies v; a nil v gives an empty vector.
func Clone(v *wire.Vector) *wire.Vector {
	out := &wire.Vector{}
	for _, c := range counters(v) {
		out.Counters = append(out.Counters, &wire.Counter{Id: c.Id, Value: c.Value})
	}
	return out
}

// Normalize sorts counters by id, merges duplicate ids (keeping the maximum)
// and drops zero counters.
func Normalize(v *wire.Vector) {
	if v == nil {
		return
	}
	slices.SortFunc(v.Counters, func(a, b *wire.Counter) int {
		switch {
		case a.Id < b.Id:
			return -1
		case a.Id > b.Id:
			return 1
		}
		return 0
	})
	out := v.Counters[:0]
	for _, c := range v.Counters {
		if c.Value == 0 {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Id == c.Id {
			out[n-1].Value = maxU(out[n-1].Value, c.Value)
			continue
		}
		out = append(out, c)
	}
	v.Counters = out
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// Wins reports whether record a takes precedence over record b when their
// versions are concurrent. The rule is the same on every device:
//  1. an existing file beats a deletion (nothing written is lost);
//  2. the later modification time wins;
//  3. then the larger modified_by device short ID;
//  4. then the larger blocks hash, type, symlink target and version vector,
//     so the order is total.
func Wins(a, b *wire.FileInfo) bool {
	if a.Deleted != b.Deleted {
		return !a.Deleted
	}
	if a.ModifiedS != b.ModifiedS {
		return a.ModifiedS > b.ModifiedS
	}
	if a.ModifiedNs != b.ModifiedNs {
		return a.ModifiedNs > b.ModifiedNs
	}
	if a.ModifiedBy != b.ModifiedBy {
		return a.ModifiedBy > b.ModifiedBy
	}
	if c := bytes.Compare(a.BlocksHash, b.BlocksHash); c != 0 {
		return c > 0
	}
	if a.Type != b.Type {
		return a.Type > b.Type
	}
	if a.SymlinkTarget != b.SymlinkTarget {
		return a.SymlinkTarget > b.SymlinkTarget
	}
	return lexGreater(a.Version, b.Version)
}

// lexGreater orders vectors lexicographically by (id, value) pairs: an
// arbitrary but total order for the last tie-break.
func lexGreater(a, b *wire.Vector) bool {
	ac, bc := counters(a), counters(b)
	for i := 0; i < len(ac) && i < len(bc); i++ {
		if ac[i].Id != bc[i].Id {
			return ac[i].Id > bc[i].Id
		}
		if ac[i].Value != bc[i].Value {
			return ac[i].Value > bc[i].Value
		}
	}
	return len(ac) > len(bc)
}

// SelectWinner returns the index in recs of the global winner: among the
// records no other record dominates, the one Wins ranks first. The result
// depends only on the set of records, not their order, so every device that
// sees the same records picks the same winner. It returns -1 for no records.
func SelectWinner(recs []*wire.FileInfo) int {
	best := -1
	for i, r := range recs {
		dominated := false
		for j, o := range recs {
			if i != j && Compare(o.Version, r.Version) == Greater {
				dominated = true
				break
			}
		}
		if dominated {
			continue
		}
		if best < 0 || Wins(r, recs[best]) {
			best = i
		}
	}
	return best
}

// SameContent reports whether two records describe the same content and
// metadata, regardless of version.
func SameContent(a, b *wire.FileInfo) bool {
	if a.Deleted || b.Deleted {
		return a.Deleted == b.Deleted && a.Type == b.Type
	}
	return a.Type == b.Type && a.Size == b.Size && bytes.Equal(a.BlocksHash, b.BlocksHash) &&
		a.SymlinkTarget == b.SymlinkTarget && a.Permissions == b.Permissions
}
