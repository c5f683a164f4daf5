package versions

import (
	"testing"
	"time"

	"github.com/shoalsync/shoal/sync/config"
)

var tagTime = time.Date(2026, 11, 21, 13, 5, 1, 123_000_000, time.UTC)

func TestPolicyTypesMatchConfig(t *testing.T) {
	if typeOff != config.VersioningOff || typeTrash != config.VersioningTrash || typeStaggered != config.VersioningStaggered {
		t.Fatal("policy type strings differ from sync/config")
	}
	d := config.Folder{}.EffectiveVersioning()
	if d.KeepDays != defaultKeepDays || d.MaxAgeDays != defaultMaxAgeDays {
		t.Fatalf("defaults differ from sync/config: %+v", d)
	}
}

func TestFormatParseName(t *testing.T) {
	tests := []struct {
		base string
		seq  int
		want string
	}{
		{"report.pdf", 0, "report~20261121-130501.123.pdf"},
		{".bashrc", 0, ".bashrc~20261121-130501.123"},
		{"Makefile", 0, "Makefile~20261121-130501.123"},
		{"Makefile", 2, "Makefile~20261121-130501.123-2"},
		{"archive.tar.gz", 0, "archive.tar~20261121-130501.123.gz"},
		{"a.txt", 1, "a~20261121-130501.123-1.txt"},
		{"a.txt", 12, "a~20261121-130501.123-12.txt"},
		{"a~20250101-000000.000.txt", 0, "a~20250101-000000.000~20261121-130501.123.txt"},
		{"x~20261121-130501.123", 0, "x~20261121-130501~20261121-130501.123.123"},
		{"x~20261121-130501.123-1", 3, "x~20261121-130501~20261121-130501.123-3.123-1"},
		{"foo.", 0, "foo~20261121-130501.123."},
		{".a.b", 0, ".a~20261121-130501.123.b"},
		{"~", 0, "~~20261121-130501.123"},
		{"a-1", 0, "a-1~20261121-130501.123"},
		{"..x", 0, ".~20261121-130501.123.x"},
		{"ü ñ.tXt", 0, "ü ñ~20261121-130501.123.tXt"},
	}
	for _, tc := range tests {
		got := formatName(tc.base, tagTime, tc.seq)
		if got != tc.want {
			t.Errorf("formatName(%q, %d) = %q, want %q", tc.base, tc.seq, got, tc.want)
			continue
		}
		base, at, seq, ok := parseName(got)
		if !ok || base != tc.base || !at.Equal(tagTime) || seq != tc.seq {
			t.Errorf("parseName(%q) = %q %v %d %v, want %q %v %d", got, base, at, seq, ok, tc.base, tagTime, tc.seq)
		}
		if at.Location() != time.UTC {
			t.Errorf("parseName(%q) time not UTC", got)
		}
	}
}

func TestParseNameRejects(t *testing.T) {
	for _, name := range []string{
		"",
		"plain.txt",
		"a~20261321-000000.000.txt",   // month 13
		"a~20260230-000000.000.txt",   // Feb 30
		"a~20261121-250000.000.txt",   // hour 25
		"a~20261121-130501.12.txt",    // two-digit millis
		"a~20261121-130501.1234.txt",  // four-digit millis
		"a~20261121-130501.123-0.txt", // zero suffix
		"a~20261121-130501.123-01.txt",
		"a~20261121-130501.123-.txt",
		"a~20261121-130501.123-1000000.txt",
		"a~2026112-1130501.123.txt",
		"a_20261121-130501.123.txt",
		"~20261121-130501.123",     // empty original name
		"~20261121-130501.123.txt", // original would be ".txt", formatted differently
		".~20261121-130501.123",    // original "."
		"..~20261121-130501.123",   // original ".."
		"a.b~20261121-130501.123",  // formatName("a.b") puts the tag before ".b"
		"a~20261121-130501.123.b.c",
		"a~+0261121-130501.123.txt",
		"a~20261121-130501.123~",
	} {
		if base, at, seq, ok := parseName(name); ok {
			t.Errorf("parseName(%q) = %q %v %d, want rejection", name, base, at, seq)
		}
	}
}

func FuzzParseName(f *testing.F) {
	f.Add("report~20261121-130501.123.pdf", int64(0), uint32(0))
	f.Add(".bashrc~20261121-130501.123-7", tagTime.UnixMilli(), uint32(3))
	f.Add("x~20261121-130501~20261121-130501.123.123", int64(-1), uint32(1))
	f.Add("a.b.c", int64(1<<40), uint32(999999))
	f.Fuzz(func(t *testing.T, name string, ms int64, seq uint32) {
		// Parsing never panics and accepts only what formatName produces.
		if base, at, n, ok := parseName(name); ok {
			if !validBase(base) || n < 0 || n > maxSeq {
				t.Fatalf("parseName(%q) = %q %d", name, base, n)
			}
			if got := formatName(base, at, n); got != name {
				t.Fatalf("parseName(%q) = %q %v %d, which formats as %q", name, base, at, n, got)
			}
		}
		// Format then parse round-trips for every valid base name.
		at := time.UnixMilli(ms).UTC()
		s := int(seq % (maxSeq + 1))
		if !validBase(name) || !formattable(at) {
			return
		}
		got := formatName(name, at, s)
		base, pat, ps, ok := parseName(got)
		if !ok || base != name || !pat.Equal(at) || ps != s {
			t.Fatalf("parseName(formatName(%q, %v, %d) = %q) = %q %v %d %v", name, at, s, got, base, pat, ps, ok)
		}
	})
}
