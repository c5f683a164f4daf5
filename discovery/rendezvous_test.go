package discovery

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestRendezvousKeyGolden(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	// Computed independently (Python hmac + hashlib, CIDv1 raw, base32).
	for _, c := range []struct {
		secret []byte
		period int64
		want   string
	}{
		{secret, 20000, "bafkreihpe7wljqk2xucajrgca5fdisgyal2p556soczbtc4eftfaahrtoq"},
		{nil, 0, "bafkreiek3x7tvmpupjr6engoud5bfywi4qbpdhqqr4cteyxmjenpiq3coq"},
		{secret, -1, "bafkreiboclztfpxgjndqt3vpvbdcrr5pm5fassiympkh5sg7j3enbycvju"},
	} {
		if got := RendezvousKey(c.secret, c.period).String(); got != c.want {
			t.Errorf("RendezvousKey(%x, %d) = %s, want %s", c.secret, c.period, got, c.want)
		}
	}
}

func TestRendezvousKeyProperties(t *testing.T) {
	a := bytes.Repeat([]byte{0xa1}, 32)
	b := bytes.Repeat([]byte{0xb2}, 32)
	folderID := []byte("folder-id-0123456789")
	seen := map[string]string{}
	for _, s := range [][]byte{a, b, folderID} {
		for p := int64(19990); p < 20010; p++ {
			k := RendezvousKey(s, p)
			if k2 := RendezvousKey(bytes.Clone(s), p); !k.Equals(k2) {
				t.Fatalf("key not stable for %x/%d", s, p)
			}
			name := fmt.Sprintf("%x/%d", s, p)
			if other, dup := seen[k.KeyString()]; dup {
				t.Fatalf("%s and %s share key %s", name, other, k)
			}
			seen[k.KeyString()] = name
			raw := k.Bytes()
			for _, leak := range [][]byte{s, folderID, []byte(fmt.Sprint(p))} {
				if bytes.Contains(raw, leak) || bytes.Contains([]byte(k.String()), leak) {
					t.Fatalf("key %s for %s contains %q", k, name, leak)
				}
			}
		}
	}
}

func TestPeriodAt(t *testing.T) {
	day := 24 * time.Hour
	for _, c := range []struct {
		t      time.Time
		length time.Duration
		want   int64
	}{
		{time.Unix(0, 0), day, 0},
		{time.Unix(86399, 999999999), day, 0},
		{time.Unix(86400, 0), day, 1},
		{time.Unix(-1, 0), day, -1},
		{time.Unix(-86400, 0), day, -1},
		{time.Unix(-86401, 0), day, -2},
		{time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC), day, 21915},
		{time.Date(2030, 1, 1, 12, 0, 0, 0, time.FixedZone("x", 5*3600)), day, 21915},
		{time.Unix(3600, 0), time.Hour, 1},
		{time.Unix(86400, 0), 0, 1}, // default period
	} {
		if got := PeriodAt(c.t, c.length); got != c.want {
			t.Errorf("PeriodAt(%v, %v) = %d, want %d", c.t, c.length, got, c.want)
		}
	}
}

func TestRolloverRule(t *testing.T) {
	day, w := 24*time.Hour, 10*time.Minute
	start := periodStart(21915, day)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	for _, c := range []struct {
		off       time.Duration
		advertise []int64
		lookup    []int64
		next      time.Duration
	}{
		{0, []int64{21915}, []int64{21915, 21914}, w},
		{w - time.Second, []int64{21915}, []int64{21915, 21914}, w},
		{w, []int64{21915}, []int64{21915}, day - w},
		{12 * time.Hour, []int64{21915}, []int64{21915}, day - w},
		{day - w - time.Nanosecond, []int64{21915}, []int64{21915}, day - w},
		{day - w, []int64{21915, 21916}, []int64{21915}, day},
		{day - time.Nanosecond, []int64{21915, 21916}, []int64{21915}, day},
		{day, []int64{21916}, []int64{21916, 21915}, day + w},
	} {
		now := at(c.off)
		if got := advertisePeriods(now, day, w); !slices.Equal(got, c.advertise) {
			t.Errorf("at +%v: advertise %v, want %v", c.off, got, c.advertise)
		}
		if got := lookupPeriods(now, day, w); !slices.Equal(got, c.lookup) {
			t.Errorf("at +%v: lookup %v, want %v", c.off, got, c.lookup)
		}
		if got := nextScheduleChange(now, day, w); !got.Equal(at(c.next)) {
			t.Errorf("at +%v: next change at +%v, want +%v", c.off, got.Sub(start), c.next)
		}
	}
	// Across a boundary with clocks less than w apart, at least one of two
	// peers looks up a period the other advertises (one finding the other
	// is enough for them to connect).
	for skew := -w + time.Second; skew < w; skew += time.Minute {
		for off := -2 * w; off < 2*w; off += 30 * time.Second {
			a := at(day + off)
			b := a.Add(skew)
			if !meets(advertisePeriods(a, day, w), lookupPeriods(b, day, w)) &&
				!meets(advertisePeriods(b, day, w), lookupPeriods(a, day, w)) {
				t.Fatalf("clocks %v and %v (skew %v) do not meet", a, b, skew)
			}
		}
	}
}

func meets(adv, look []int64) bool {
	for _, p := range adv {
		if slices.Contains(look, p) {
			return true
		}
	}
	return false
}
