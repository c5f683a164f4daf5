package discovery

import (
	"crypto/hmac"
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// rendezvousLabel prefixes the period number in the HMAC input of a
// rendezvous key. Changing it changes every key: it is part of the protocol.
const rendezvousLabel = "shoal/rendezvous/v1/"

// RendezvousKey returns the DHT key under which the members of a folder
// advertise themselves during the given period:
//
//	mac = HMAC-SHA256(key = secret, msg = "shoal/rendezvous/v1/" + decimal(period))
//	key = CIDv1(codec raw 0x55, multihash sha2-256(mac))
//
// secret is the folder's lowest capability (the key that encrypted-only
// peers hold too), so every kind of member can meet every other. The key
// reveals neither the secret nor the folder ID derived from it, and it
// changes every period, so DHT nodes cannot link a folder's records across
// periods. They still see the peer IDs of the providers of each key.
func RendezvousKey(secret []byte, period int64) cid.Cid {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(rendezvousLabel))
	m.Write(strconv.AppendInt(nil, period, 10))
	h, err := mh.Sum(m.Sum(nil), mh.SHA2_256, -1)
	if err != nil {
		// mh.Sum fails only for unknown hash codes or bad lengths.
		panic("discovery: sha2-256 multihash: " + err.Error())
	}
	return cid.NewCidV1(cid.Raw, h)
}

// PeriodAt returns the number of the rendezvous period that contains t:
// floor(t / length) counted from the Unix epoch. A length of zero or less
// means DefaultPeriod.
func PeriodAt(t time.Time, length time.Duration) int64 {
	if length <= 0 {
		length = DefaultPeriod
	}
	return floorDiv(t.UnixNano(), int64(length))
}

// periodStart returns the instant period p begins.
func periodStart(p int64, length time.Duration) time.Time {
	return time.Unix(0, p*int64(length))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// The rollover rule. Clocks differ and a peer that just crossed into a new
// period must still meet one that has not, so around each boundary the two
// sides overlap by the window w (Config.Overlap):
//
//   - advertise under the current period, and also under the next one
//     during the last w of the current period;
//   - look up the current period, and also the previous one during the
//     first w of the current period.
//
// Of a peer at the end of period p (advertising p and p+1, looking up p)
// and one at the start of p+1 (advertising p+1, looking up p+1 and p), the
// second finds the first at once, whichever side of the boundary each clock
// is on, as long as the clocks differ by less than w; one side finding the
// other is enough for them to connect. The first finds the second by itself
// once its own clock crosses the boundary (or at once if the second was
// already running before the boundary: its record for p is still there).
// Records stay in the DHT for their validity (48 h by
// default) whatever the period, so the window only has to cover the time
// a fresh advertisement needs to be made, not the records' lifetime.

// advertisePeriods returns the periods to advertise under at t.
func advertisePeriods(t time.Time, length, overlap time.Duration) []int64 {
	p := PeriodAt(t, length)
	if !t.Before(periodStart(p+1, length).Add(-overlap)) {
		return []int64{p, p + 1}
	}
	return []int64{p}
}

// lookupPeriods returns the periods to look up at t.
func lookupPeriods(t time.Time, length, overlap time.Duration) []int64 {
	p := PeriodAt(t, length)
	if t.Before(periodStart(p, length).Add(overlap)) {
		return []int64{p, p - 1}
	}
	return []int64{p}
}

// nextScheduleChange returns the next instant after t at which
// advertisePeriods or lookupPeriods changes.
func nextScheduleChange(t time.Time, length, overlap time.Duration) time.Time {
	p := PeriodAt(t, length)
	start, next := periodStart(p, length), periodStart(p+1, length)
	for _, c := range []time.Time{start.Add(overlap), next.Add(-overlap), next} {
		if c.After(t) {
			return c
		}
	}
	return next
}
