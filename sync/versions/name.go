package versions

import (
	"strconv"
	"strings"
	"time"
)

// tsLayout is the archive tag's timestamp: UTC, millisecond precision.
const tsLayout = "20060102-150405.000"

// tsLen is the length of a formatted tsLayout timestamp.
const tsLen = len(tsLayout)

// maxSeq bounds the collision suffix, both when archiving and parsing.
const maxSeq = 999_999

// splitExt splits a base name at its last dot into stem and extension
// (with the dot). A name whose only dot is its first byte (".bashrc") or
// that has no dot has no extension.
func splitExt(base string) (stem, ext string) {
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return base, ""
	}
	return base[:i], base[i:]
}

// formatName returns the archive name of the file named base archived at
// at, with collision suffix seq (0 for none): stem~YYYYMMDD-HHMMSS.mmm[-seq]ext.
func formatName(base string, at time.Time, seq int) string {
	stem, ext := splitExt(base)
	var b strings.Builder
	b.Grow(len(base) + tsLen + 8)
	b.WriteString(stem)
	b.WriteByte('~')
	b.WriteString(at.UTC().Format(tsLayout))
	if seq > 0 {
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(seq))
	}
	b.WriteString(ext)
	return b.String()
}

// validBase reports whether s can be the base name of a folder file.
func validBase(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// formattable reports whether at's UTC year fits the tag's four digits.
func formattable(at time.Time) bool {
	y := at.UTC().Year()
	return y >= 0 && y <= 9999
}

// parseName is the inverse of formatName: it returns the original base
// name, the archive time and the collision suffix of an archive name. It
// accepts exactly the names formatName produces: the tag is the last "~"
// followed by the timestamp (and optional suffix) that ends either right
// before the final extension or at the end of the name, and the result is
// checked by formatting it again.
func parseName(name string) (base string, at time.Time, seq int, ok bool) {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if stem, at, seq, ok := cutTag(name[:i]); ok {
			base := stem + name[i:]
			if validBase(base) && formatName(base, at, seq) == name {
				return base, at, seq, true
			}
		}
	}
	if stem, at, seq, ok := cutTag(name); ok {
		if validBase(stem) && formatName(stem, at, seq) == name {
			return stem, at, seq, true
		}
	}
	return "", time.Time{}, 0, false
}

// cutTag splits s into the part before a trailing "~timestamp[-seq]" and
// the tag's values.
func cutTag(s string) (stem string, at time.Time, seq int, ok bool) {
	// With a collision suffix: the last '-' starts it.
	if j := strings.LastIndexByte(s, '-'); j >= 0 {
		if n, ok := parseSeq(s[j+1:]); ok {
			if stem, at, ok := cutTimestamp(s[:j]); ok {
				return stem, at, n, true
			}
		}
	}
	if stem, at, ok := cutTimestamp(s); ok {
		return stem, at, 0, true
	}
	return "", time.Time{}, 0, false
}

// parseSeq parses a collision suffix: 1..maxSeq without leading zeros.
func parseSeq(s string) (int, bool) {
	if s == "" || len(s) > 6 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= maxSeq
}

// cutTimestamp splits s into the part before a trailing "~timestamp".
func cutTimestamp(s string) (stem string, at time.Time, ok bool) {
	if len(s) < tsLen+1 || s[len(s)-tsLen-1] != '~' {
		return "", time.Time{}, false
	}
	ts := s[len(s)-tsLen:]
	for i := 0; i < tsLen; i++ {
		c, want := ts[i], tsLayout[i]
		isDigit := c >= '0' && c <= '9'
		if want >= '0' && want <= '9' {
			if !isDigit {
				return "", time.Time{}, false
			}
		} else if c != want {
			return "", time.Time{}, false
		}
	}
	at, err := time.Parse(tsLayout, ts)
	if err != nil {
		return "", time.Time{}, false
	}
	return s[:len(s)-tsLen-1], at.UTC(), true
}
