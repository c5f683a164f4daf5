package fsutil

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// windowsReserved are device names Windows refuses as a file name, with or
// without an extension.
var windowsReserved = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

// WindowsProblem says why Windows cannot hold the slash-separated name, or
// returns "" when it can: a reserved device name (CON, PRN, AUX, NUL,
// COM1-9, LPT1-9, also with an extension), a component ending in a dot or
// a space, or one of the characters : \ * ? " < > | or a control character.
func WindowsProblem(name string) string {
	for comp := range strings.SplitSeq(name, "/") {
		stem, _, _ := strings.Cut(comp, ".")
		if windowsReserved[strings.ToUpper(strings.TrimRight(stem, " "))] {
			return "the name " + quoteName(comp) + " is reserved on Windows"
		}
		if strings.HasSuffix(comp, ".") || strings.HasSuffix(comp, " ") {
			return "the name " + quoteName(comp) + " ends with a dot or a space, which Windows cannot keep"
		}
		for _, r := range comp {
			if r < 32 || strings.ContainsRune(`:\*?"<>|`, r) {
				return "the name " + quoteName(comp) + " contains a character Windows does not allow in names"
			}
		}
	}
	return ""
}

func quoteName(s string) string { return `"` + s + `"` }

// IsNFC reports whether name is in Unicode Normalization Form C, the form
// names are recorded and sent in.
func IsNFC(name string) bool { return norm.NFC.IsNormalString(name) }

// NFC returns name in Unicode Normalization Form C.
func NFC(name string) string { return norm.NFC.String(name) }

// FoldKey returns the key under which a case-insensitive,
// normalization-insensitive file system (Windows, macOS by default)
// considers two names the same.
func FoldKey(name string) string { return strings.ToLower(norm.NFC.String(name)) }
