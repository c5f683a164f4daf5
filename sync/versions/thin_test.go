package versions

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// refBucket is an independent statement of the staggered buckets: ok is
// false for versions older than maxAge, tier 0 is "keep everything" and
// start is the UTC calendar interval's start.
func refBucket(t, now time.Time, maxAge time.Duration) (tier int, start time.Time, ok bool) {
	age := now.Sub(t)
	if maxAge > 0 && age > maxAge {
		return 0, time.Time{}, false
	}
	u := t.UTC()
	day := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	switch {
	case age < time.Hour:
		return 0, time.Time{}, true
	case age < 24*time.Hour:
		return 1, time.Date(u.Year(), u.Month(), u.Day(), u.Hour(), 0, 0, 0, time.UTC), true
	case age < 30*24*time.Hour:
		return 2, day, true
	default:
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		return 3, day.AddDate(0, 0, -back), true
	}
}

type refKey struct {
	tier  int
	start int64
}

// checkThin verifies the properties of keep = Thin(times, now, maxAge).
func checkThin(t *testing.T, times []time.Time, now time.Time, maxAge time.Duration, keep []bool) {
	t.Helper()
	if len(keep) != len(times) {
		t.Fatalf("len(keep) = %d, want %d", len(keep), len(times))
	}
	oldest := make(map[refKey]time.Time) // oldest version per bucket
	kept := make(map[refKey]int)
	newestRecent := -1
	for i, tm := range times {
		tier, start, ok := refBucket(tm, now, maxAge)
		if !ok {
			if keep[i] {
				t.Fatalf("kept %v, older than maxAge %v at %v", tm, maxAge, now)
			}
			continue
		}
		if tier == 0 {
			if !keep[i] {
				t.Fatalf("dropped %v, less than an hour old at %v", tm, now)
			}
			if newestRecent < 0 || tm.After(times[newestRecent]) {
				newestRecent = i
			}
			continue
		}
		k := refKey{tier, start.Unix()}
		if o, seen := oldest[k]; !seen || tm.Before(o) {
			oldest[k] = tm
		}
		if keep[i] {
			kept[k]++
		}
	}
	if newestRecent >= 0 && !keep[newestRecent] {
		t.Fatal("newest version within the last hour dropped")
	}
	for k, o := range oldest {
		if kept[k] != 1 {
			t.Fatalf("bucket %+v has %d kept versions, want 1", k, kept[k])
		}
		for i, tm := range times {
			if keep[i] {
				if tier, start, _ := refBucket(tm, now, maxAge); tier == k.tier && start.Unix() == k.start && !tm.Equal(o) {
					t.Fatalf("bucket %+v kept %v, not its oldest %v", k, tm, o)
				}
			}
		}
	}
	// Idempotent: thinning the kept set again keeps all of it.
	var rest []time.Time
	for i, k := range keep {
		if k {
			rest = append(rest, times[i])
		}
	}
	for i, k := range Thin(rest, now, maxAge) {
		if !k {
			t.Fatalf("second Thin at the same now drops %v", rest[i])
		}
	}
}

// randomTimes returns n archive times around now: a mix of uniform spread
// over [now-span, now+10m], clusters and exact duplicates.
func randomTimes(r *rand.Rand, n int, now time.Time, span time.Duration) []time.Time {
	out := make([]time.Time, 0, n)
	for len(out) < n {
		switch r.IntN(4) {
		case 0: // duplicate
			if len(out) > 0 {
				out = append(out, out[r.IntN(len(out))])
				continue
			}
			fallthrough
		case 1: // recent
			out = append(out, now.Add(-time.Duration(r.Int64N(int64(3*time.Hour)))))
		case 2: // near a calendar boundary
			b := now.Add(-time.Duration(r.Int64N(int64(span)))).Truncate(24 * time.Hour)
			out = append(out, b.Add(time.Duration(r.Int64N(int64(2*time.Second)))-time.Second))
		default:
			d := time.Duration(r.Int64N(int64(span + 10*time.Minute)))
			out = append(out, now.Add(10*time.Minute-d))
		}
	}
	return out
}

func TestThinProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC)
	for iter := range 400 {
		now := base.Add(time.Duration(r.Int64N(int64(400 * 24 * time.Hour))))
		maxAge := time.Duration(r.IntN(200)) * 24 * time.Hour // 0: no limit
		times := randomTimes(r, r.IntN(80), now, 300*24*time.Hour)
		t.Run(fmt.Sprint(iter), func(t *testing.T) {
			checkThin(t, times, now, maxAge, Thin(times, now, maxAge))
		})
	}
}

// TestThinOverTime simulates a file edited at random moments with cleanups
// in between: after every cleanup each bucket holds at most one version
// and the properties hold.
func TestThinOverTime(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 12 {
		now := time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC).Add(time.Duration(r.Int64N(int64(7 * 24 * time.Hour))))
		maxAge := time.Duration(60+r.IntN(60)) * 24 * time.Hour
		var times []time.Time
		for range 600 {
			now = now.Add(time.Duration(r.Int64N(int64(8 * time.Hour))))
			for range r.IntN(4) {
				times = append(times, now.Add(-time.Duration(r.Int64N(int64(time.Minute)))))
			}
			if r.IntN(3) > 0 {
				continue // not every edit is followed by a cleanup
			}
			keep := Thin(times, now, maxAge)
			checkThin(t, times, now, maxAge, keep)
			survivors := times[:0:0]
			for i, k := range keep {
				if k {
					survivors = append(survivors, times[i])
				}
			}
			// A survivor of a bucket stays until its bucket merges.
			times = survivors
		}
		if len(times) > 200 {
			t.Fatalf("iteration %d: %d versions survive, thinning does not bound the archive", iter, len(times))
		}
	}
}

func TestThinExamples(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 30, 0, 0, time.UTC) // a Saturday
	at := func(s string) time.Time {
		tm, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	times := []time.Time{
		at("2026-11-21 12:29:00"), // 0: last hour
		at("2026-11-21 11:45:00"), // 1: last hour (45 min old)
		at("2026-11-21 11:40:00"), // 2: last hour
		at("2026-11-21 10:50:00"), // 3: hour 10, newer: dropped
		at("2026-11-21 10:10:00"), // 4: hour 10, oldest: kept
		at("2026-11-21 09:59:59"), // 5: hour 9: kept
		at("2026-11-19 23:00:00"), // 6: Nov 19, newer: dropped
		at("2026-11-19 01:00:00"), // 7: Nov 19, oldest: kept
		at("2026-10-01 12:00:00"), // 8: 51 days old, week of Mon Sep 28, newer: dropped
		at("2026-09-28 00:00:00"), // 9: Monday 00:00, same week, oldest: kept
		at("2026-09-27 23:59:59"), // 10: Sunday, previous week: kept
		at("2025-11-20 12:00:00"), // 11: older than 365 days: dropped
	}
	want := []bool{true, true, true, false, true, true, false, true, false, true, true, false}
	got := Thin(times, now, 365*24*time.Hour)
	if !slices.Equal(got, want) {
		t.Fatalf("Thin = %v\nwant   %v", got, want)
	}
	// Input order does not matter.
	rev := slices.Clone(times)
	slices.Reverse(rev)
	got = Thin(rev, now, 365*24*time.Hour)
	slices.Reverse(got)
	if !slices.Equal(got, want) {
		t.Fatalf("Thin (reversed input) = %v\nwant   %v", got, want)
	}
	// A future time (clock step) is kept.
	if k := Thin([]time.Time{now.Add(time.Hour)}, now, time.Hour); !k[0] {
		t.Fatal("future version dropped")
	}
	if k := Thin(nil, now, 0); len(k) != 0 {
		t.Fatal("Thin(nil) not empty")
	}
}
