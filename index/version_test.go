package index

import (
	"math/rand/v2"
	"testing"

	"github.com/shoalsync/shoal/transport/wire"
)

func vec(pairs ...uint64) *wire.Vector {
	v := &wire.Vector{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Counters = append(v.Counters, &wire.Counter{Id: pairs[i], Value: pairs[i+1]})
	}
	Normalize(v)
	return v
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b *wire.Vector
		want Ordering
	}{
		{"both empty", vec(), vec(), Equal},
		{"nil and empty", nil, vec(), Equal},
		{"greater", vec(1, 2), vec(1, 1), Greater},
		{"lesser", vec(1, 1), vec(1, 1, 2, 1), Lesser},
		{"concurrent", vec(1, 2), vec(2, 1), Concurrent},
		{"equal", vec(1, 2, 3, 4), vec(3, 4, 1, 2), Equal},
		{"zero counters ignored", vec(1, 0, 2, 3), vec(2, 3), Equal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.a, tt.b); got != tt.want {
				t.Fatalf("Compare = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBumpDominates(t *testing.T) {
	v := vec(1, 5, 2, 3)
	b := Bump(v, 2)
	if Compare(b, v) != Greater {
		t.Fatalf("Bump result %v does not dominate %v", b, v)
	}
	if Compare(Merge(vec(1, 1), vec(2, 1)), vec(1, 1)) != Greater {
		t.Fatal("Merge does not dominate its input")
	}
}

// TestSelectWinnerOrderIndependent checks that every permutation of a set of
// records picks the same winner.
func TestSelectWinnerOrderIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 2000; n++ {
		var recs []*wire.FileInfo
		for i := 0; i < 1+r.IntN(5); i++ {
			recs = append(recs, &wire.FileInfo{
				Name:       "f",
				Version:    vec(uint64(1+r.IntN(3)), uint64(r.IntN(3)), uint64(1+r.IntN(3)), uint64(r.IntN(3))),
				ModifiedS:  int64(r.IntN(3)),
				ModifiedBy: uint64(r.IntN(3)),
				Deleted:    r.IntN(4) == 0,
				BlocksHash: []byte{byte(r.IntN(3))},
			})
		}
		w := recs[SelectWinner(recs)]
		for k := 0; k < 5; k++ {
			r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
			w2 := recs[SelectWinner(recs)]
			if Compare(w.Version, w2.Version) != Equal || !SameContent(w, w2) || w.ModifiedS != w2.ModifiedS {
				t.Fatalf("winner depends on order: %v vs %v", w, w2)
			}
		}
		for _, o := range recs {
			if Compare(o.Version, w.Version) == Greater {
				t.Fatalf("winner %v is dominated by %v", w, o)
			}
		}
	}
}
