package versions

import (
	"cmp"
	"slices"
	"time"
)

// Staggered thinning tiers, by a version's age.
const (
	allTier   = time.Hour      // younger than this: keep every version
	hourTier  = 24 * time.Hour // younger than this: one per clock hour
	dayTier   = 30 * 24 * time.Hour
	secPerDay = 24 * 60 * 60
	// mondayOffset shifts Unix time so that weeks start on Monday 00:00
	// UTC (1970-01-01 was a Thursday).
	mondayOffset = 3 * secPerDay
)

// bucket identifies a thinning interval: a tier and the index of a fixed
// UTC calendar interval within it. Tier 0 (the last hour) has no
// intervals: every version there is kept.
type bucket struct {
	tier int
	idx  int64
}

// bucketOf returns the bucket of a version archived at t, or false if the
// version is older than maxAge (maxAge <= 0: no limit).
func bucketOf(t, now time.Time, maxAge time.Duration) (bucket, bool) {
	age := now.Sub(t)
	if maxAge > 0 && age > maxAge {
		return bucket{}, false
	}
	sec := t.Unix()
	switch {
	case age < allTier:
		return bucket{tier: 0}, true
	case age < hourTier:
		return bucket{1, floorDiv(sec, 60*60)}, true
	case age < dayTier:
		return bucket{2, floorDiv(sec, secPerDay)}, true
	default:
		return bucket{3, floorDiv(sec+mondayOffset, 7*secPerDay)}, true
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Thin is the pure core of staggered cleanup. Given the archive times of
// the versions of one path, the current time and the maximum age, it
// reports which versions to keep:
//
//   - every version younger than one hour (and any from the future, so a
//     clock step never deletes fresh versions);
//   - for versions between one hour and one day old, one per UTC clock
//     hour;
//   - between one day and 30 days old, one per UTC day;
//   - beyond 30 days, one per week (weeks start Monday 00:00 UTC);
//   - nothing older than maxAge (maxAge <= 0 means no limit).
//
// Within a bucket the oldest version is kept (ties: the lowest index).
// Buckets are fixed calendar intervals rather than intervals measured back
// from now, and each tier's intervals nest in the next tier's, so the
// result is stable: thinning again at the same now keeps everything, a
// newer version never displaces the survivor of a bucket, and as the
// survivor ages its bucket only merges into a coarser one that contains
// it. Versions just across a calendar boundary are in different buckets,
// so two kept versions can be closer than an hour (day, week) apart.
func Thin(times []time.Time, now time.Time, maxAge time.Duration) (keep []bool) {
	keep = make([]bool, len(times))
	order := make([]int, len(times))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return times[a].Compare(times[b]) })
	seen := make(map[bucket]bool)
	for _, i := range order {
		b, ok := bucketOf(times[i], now, maxAge)
		if !ok {
			continue
		}
		if b.tier == 0 {
			keep[i] = true
			continue
		}
		if !seen[b] {
			seen[b] = true
			keep[i] = true
		}
	}
	return keep
}

// compareVersions orders versions oldest first: by archive time, then by
// collision suffix (a higher suffix was archived later).
func compareVersions(a, b Version) int {
	if c := a.ArchivedAt.Compare(b.ArchivedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}
