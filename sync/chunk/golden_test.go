package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// TestGearDerivation checks the frozen gear literal against the recipe in
// its comment. The literal, not this recipe, is the source of truth.
func TestGearDerivation(t *testing.T) {
	for i := range gear {
		s := sha256.Sum256(fmt.Appendf(nil, "shoal/chunk/gear/v1/%d", i))
		if want := binary.BigEndian.Uint64(s[:8]); gear[i] != want {
			t.Fatalf("gear[%d] = %#016x, the recipe gives %#016x", i, gear[i], want)
		}
	}
}

// TestParams pins the derived masks, so a change to newParams shows up as a
// readable diff here before it shows up as moved cut points below.
func TestParams(t *testing.T) {
	want := map[uint32][2]uint64{
		64 << 10:  {0xffffc00000000000, 0xfffc000000000000},
		128 << 10: {0xffffe00000000000, 0xfffe000000000000},
		256 << 10: {0xfffff00000000000, 0xffff000000000000},
		512 << 10: {0xfffff80000000000, 0xffff800000000000},
		1 << 20:   {0xfffffc0000000000, 0xffffc00000000000},
		2 << 20:   {0xfffffe0000000000, 0xffffe00000000000},
		4 << 20:   {0xffffff0000000000, 0xfffff00000000000},
	}
	for _, avg := range validAverages {
		p := newParams(avg)
		if p.min != int(avg)/4 || p.avg != int(avg) || p.max != 4*int(avg) || p.small != 64<<10 {
			t.Errorf("A=%d: min/avg/max/small = %d/%d/%d/%d", avg, p.min, p.avg, p.max, p.small)
		}
		if got := [2]uint64{p.maskS, p.maskL}; got != want[avg] {
			t.Errorf("A=%d: maskS, maskL = %#016x, %#016x, want %#016x, %#016x", avg, got[0], got[1], want[avg][0], want[avg][1])
		}
	}
}

// goldenCases are the frozen cut points: chunk boundaries are part of the
// wire format (peers dedupe and request blocks by them), so these vectors
// must NEVER be edited to make a test pass. A failure here means the
// chunker changed; fix the chunker. To add a case, leave sizes and digest
// empty: the test fails and prints the values to paste.
//
// Inputs are randomBytes(seed, size) (SplitMix64, little-endian), or zeros
// when seed is 0. digest is hex BlocksHash: SHA-256 over the chunks'
// SHA-256 hashes.
var goldenCases = []struct {
	avg    uint32
	seed   uint64
	size   int
	sizes  []int
	digest string
}{
	{
		avg: 64 << 10, seed: 1, size: 0,
		sizes:  []int{},
		digest: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	},
	{
		avg: 64 << 10, seed: 1, size: 1,
		sizes:  []int{1},
		digest: "433fec3501d040488d6281de51e176e596a0fe433edd68e1f3e4e369a5c428de",
	},
	{
		avg: 64 << 10, seed: 2, size: 65535,
		sizes:  []int{65535},
		digest: "d8b20450c16c081c737b3b244321afd5dfb531d3196b359dffa25fa1283c6218",
	},
	{
		avg: 64 << 10, seed: 3, size: 65536,
		sizes:  []int{65536},
		digest: "387579be0e6c1fe3028687ad5f8f107a8ebaae64cb31eb93d976f50014fff5ce",
	},
	{
		avg: 64 << 10, seed: 4, size: 200000,
		sizes:  []int{78535, 63331, 58134},
		digest: "d44557e63b0ac51b7e9a5471e55f36886f9863ecbd4356584ac47abb4cf7a1b8",
	},
	{
		avg: 64 << 10, seed: 5, size: 1<<20 + 3,
		sizes:  []int{21806, 71382, 88717, 67274, 58848, 105556, 68838, 77754, 67032, 71219, 69705, 103516, 67511, 95023, 14398},
		digest: "51e60bc6fd02c94bc75ef56491872a38bb7daab2ccd461ff5bc5992d9651fe64",
	},
	{
		avg: 64 << 10, seed: 6, size: 4<<20 + 11,
		sizes:  []int{66462, 51315, 66616, 70850, 76679, 74256, 72509, 120508, 70172, 77846, 108458, 69300, 103204, 36444, 73731, 75120, 101717, 79462, 20876, 66585, 65561, 75497, 74191, 78772, 74335, 79169, 117320, 87690, 100144, 67665, 71207, 85051, 73798, 41761, 119729, 83565, 93975, 88779, 94940, 66619, 55388, 87011, 21522, 69458, 69631, 72578, 71458, 66304, 88116, 85712, 33226, 101849, 68503, 30949, 76435, 50585, 23712},
		digest: "720f9bf55de6d6bf08caf87eba08f47abfc9877057c56f7d41d35e5784896db2",
	},
	{
		avg: 64 << 10, seed: 0, size: 1<<20 + 17,
		sizes:  []int{262144, 262144, 262144, 262144, 17},
		digest: "bb3d68a1e84a4b699f37d9612487c2eb2d97392e7ad774b1f5a9c7c93eec7956",
	},
	{
		avg: 128 << 10, seed: 7, size: 3<<20 + 5,
		sizes:  []int{206182, 152590, 133238, 161807, 139720, 103422, 158356, 135839, 39559, 187659, 137693, 42250, 145506, 180645, 176042, 236245, 150303, 149264, 136497, 206122, 165845, 949},
		digest: "91709885cfc1521ee49b061fc45e8148f8f3b07a308e0f018c3efea9c1f3ca19",
	},
	{
		avg: 256 << 10, seed: 8, size: 100000,
		sizes:  []int{100000},
		digest: "b5b0944ae17a248163c7879522ac19de702ad7962a1420f6465d168b08191362",
	},
	{
		avg: 256 << 10, seed: 9, size: 6<<20 + 1,
		sizes:  []int{277764, 201570, 356898, 392748, 312778, 266278, 308883, 81171, 351631, 271694, 330852, 145292, 289937, 285840, 678116, 278008, 233660, 341790, 309512, 271804, 305231},
		digest: "8a9ef2e83b899b75f70843a6ca3b7a5cfe2dec66848a6b218f563af463109cc7",
	},
	{
		avg: 512 << 10, seed: 10, size: 9<<20 + 7,
		sizes:  []int{668770, 533587, 739230, 650422, 551445, 546890, 552230, 596043, 764516, 858277, 364366, 547176, 247534, 574575, 629479, 612651},
		digest: "c754283f026d5e5bdc60a7dbfdf603f1e48aef0b69e9b7c3679be7364c80d405",
	},
	{
		avg: 1 << 20, seed: 11, size: 20<<20 + 9,
		sizes:  []int{1167626, 1420201, 1085314, 1137133, 1156545, 1405343, 1762214, 1068002, 1120228, 1210790, 1267927, 1172740, 1468905, 1223586, 1121754, 1077314, 1105907},
		digest: "4b809be38720ad6b23b27f604bf13cea5a0d24c36964d68bdbdccf99f28fb744",
	},
	{
		avg: 2 << 20, seed: 12, size: 33 << 20,
		sizes:  []int{2118409, 2793894, 2127137, 2337702, 1608817, 2249895, 2348039, 2506045, 2519999, 3020100, 1342997, 536853, 2348890, 2683944, 2172441, 1887846},
		digest: "dc3206b700d2681f4a1bc45227bd46d6ae7540ff3f685d87acba06a1a4010fe7",
	},
	{
		avg: 4 << 20, seed: 13, size: 70<<20 + 13,
		sizes:  []int{4732440, 4215465, 6251448, 4800202, 5822818, 5397178, 2714711, 3579333, 4842761, 10415648, 4203351, 4953089, 4443237, 3810289, 3218363},
		digest: "78d1baa6b080ad873442b24b6a5035f9e1f409d9032a8753583d290456a40c2f",
	},
	{
		avg: 4 << 20, seed: 0, size: 40 << 20,
		sizes:  []int{16777216, 16777216, 8388608},
		digest: "28db9b5df9496711ab78ae5083905e561921f40e3fd74a1db02de96b6c24cddd",
	},
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(fmt.Sprintf("A=%d/seed=%d/size=%d", tc.avg, tc.seed, tc.size), func(t *testing.T) {
			data := make([]byte, tc.size)
			if tc.seed != 0 {
				data = randomBytes(tc.seed, tc.size)
			}
			blocks, err := Blocks(context.Background(), bytes.NewReader(data), tc.avg)
			if err != nil {
				t.Fatal(err)
			}
			sizes := make([]int, len(blocks))
			var off int64
			for i, b := range blocks {
				if b.Offset != off {
					t.Fatalf("block %d at offset %d, want %d", i, b.Offset, off)
				}
				if want := sha256Sum(data[b.Offset : b.Offset+int64(b.Size)]); !bytes.Equal(b.Hash, want) {
					t.Fatalf("block %d hash %x, want %x", i, b.Hash, want)
				}
				sizes[i] = int(b.Size)
				off += int64(b.Size)
			}
			digest := hex.EncodeToString(BlocksHash(blocks))
			if tc.sizes == nil && tc.size > 0 || tc.digest == "" {
				t.Fatalf("no golden values; got\n\tsizes: %s,\n\tdigest: %q,", goLiteral(sizes), digest)
			}
			if !equalInts(sizes, tc.sizes) {
				t.Errorf("chunk sizes changed: THE CHUNKER'S OUTPUT IS FROZEN\n got  %v\n want %v", sizes, tc.sizes)
			}
			if digest != tc.digest {
				t.Errorf("blocks hash %s, want %s", digest, tc.digest)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func goLiteral(sizes []int) string {
	var b strings.Builder
	b.WriteString("[]int{")
	for i, s := range sizes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, s)
	}
	b.WriteString("}")
	return b.String()
}
