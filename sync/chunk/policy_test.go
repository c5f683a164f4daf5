package chunk

import (
	"errors"
	"testing"
)

func TestAverageSize(t *testing.T) {
	const (
		KiB = int64(1) << 10
		MiB = int64(1) << 20
		GiB = int64(1) << 30
	)
	tests := []struct {
		name string
		size int64
		prev uint32
		want uint32
	}{
		{"empty", 0, 0, 64 << 10},
		{"tiny", 100, 0, 64 << 10},
		{"belowSmall", 64*KiB - 1, 0, 64 << 10},
		{"128MiB", 128 * MiB, 0, 64 << 10},
		{"over128MiB", 128*MiB + 1, 0, 256 << 10},
		{"4GiB", 4 * GiB, 0, 256 << 10},
		{"over4GiB", 4*GiB + 1, 0, 1 << 20},
		{"256GiB", 256 * GiB, 0, 1 << 20},
		{"over256GiB", 256*GiB + 1, 0, 4 << 20},
		{"huge", 1 << 50, 0, 4 << 20},

		{"keep64KGrown", 200 * MiB, 64 << 10, 64 << 10},
		{"keep64KAt4x", 512 * MiB, 64 << 10, 64 << 10},
		{"leave64K", 512*MiB + 1, 64 << 10, 256 << 10},
		{"leave64KFar", 100 * GiB, 64 << 10, 1 << 20},
		{"keep256KShrunk", 100 * MiB, 256 << 10, 256 << 10},
		{"keep256KAtQuarter", 32*MiB + 1, 256 << 10, 256 << 10},
		{"leave256KBelow", 32 * MiB, 256 << 10, 64 << 10},
		{"leave256KTiny", 10 * KiB, 256 << 10, 64 << 10},
		{"keep256KGrown", 16 * GiB, 256 << 10, 256 << 10},
		{"leave256KAbove", 16*GiB + 1, 256 << 10, 1 << 20},
		{"keep1MShrunk", 1*GiB + 1, 1 << 20, 1 << 20},
		{"leave1MBelow", 1 * GiB, 1 << 20, 256 << 10},
		{"keep1MGrown", 1 << 40, 1 << 20, 1 << 20},
		{"leave1MAbove", 1<<40 + 1, 1 << 20, 4 << 20},
		{"keep4MShrunk", 64*GiB + 1, 4 << 20, 4 << 20},
		{"leave4M", 64 * GiB, 4 << 20, 1 << 20},
		{"samePrev", 1 * MiB, 64 << 10, 64 << 10},

		// A prev that is no policy value (bogus or from a future version)
		// is ignored.
		{"prevNotPolicy", 1 * MiB, 128 << 10, 64 << 10},
		{"prevGarbage", 1 * MiB, 12345, 64 << 10},
		{"prevHuge", 1 * MiB, 1 << 31, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AverageSize(tt.size, tt.prev)
			if got != tt.want {
				t.Fatalf("AverageSize(%d, %d) = %d, want %d", tt.size, tt.prev, got, tt.want)
			}
			if err := ValidAverage(got); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestAverageSizeStable: a file that keeps changing size within 4× of its
// band never changes A, and whatever prev is, the result is valid.
func TestAverageSizeStable(t *testing.T) {
	rng := splitMix64(42)
	for range 10000 {
		size := int64(rng.next() >> (rng.next() % 64))
		prev := AverageSize(size, 0)
		if again := AverageSize(size, prev); again != prev {
			t.Fatalf("AverageSize(%d, %d) = %d, want prev kept", size, prev, again)
		}
		for _, p := range []uint32{0, 64 << 10, 256 << 10, 1 << 20, 4 << 20, uint32(rng.next())} {
			if err := ValidAverage(AverageSize(size, p)); err != nil {
				t.Fatalf("AverageSize(%d, %d): %v", size, p, err)
			}
		}
	}
}

func TestValidAverage(t *testing.T) {
	for _, avg := range validAverages {
		if err := ValidAverage(avg); err != nil {
			t.Errorf("ValidAverage(%d) = %v", avg, err)
		}
	}
	for _, avg := range []uint32{0, 1, 32 << 10, 64<<10 + 1, 96 << 10, 8 << 20, 1 << 31, ^uint32(0)} {
		if err := ValidAverage(avg); !errors.Is(err, ErrInvalidAverage) {
			t.Errorf("ValidAverage(%d) = %v, want ErrInvalidAverage", avg, err)
		}
	}
	if _, max := Limits(MaxAverage); max != MaxChunkSize {
		t.Errorf("Limits(MaxAverage) max = %d, want MaxChunkSize %d", max, MaxChunkSize)
	}
}
