package invite

import (
	"fmt"
	"strings"

	"github.com/mdp/qrterminal/v3"
	"rsc.io/qr"
)

// qrMaxWidth is the widest QR rendering that uses the more robust error
// correction level M; wider codes drop to level L to fit a terminal.
const qrMaxWidth = 76

// QR renders text as a QR code for a terminal, two modules per character
// cell with the half-block characters '▀' and '▄', and a quiet zone of four
// modules. Light modules are drawn as foreground ('█'), so the code reads
// correctly on the usual light-on-dark terminal; phone scanners usually
// also read the inverted code on a light background. Lines end in '\n'.
//
// A Shoal invite link is encoded in upper case, which Decode accepts and
// which a QR code stores in fewer modules (alphanumeric mode). QR returns an
// error if the text does not fit in a QR code.
func QR(link string) (string, error) {
	text := link
	if up := strings.ToUpper(link); strings.HasPrefix(up, "SHOAL://") && isQRAlnum(up) {
		text = up
	}
	level := qr.M
	code, err := qr.Encode(text, level)
	if err == nil && code.Size+2*qrterminal.QUIET_ZONE > qrMaxWidth {
		level = qr.L
		code, err = qr.Encode(text, level)
	}
	if err != nil || code == nil {
		// qrterminal does not report this error: it would crash instead.
		return "", fmt.Errorf("making QR code of %d characters: %w", len(text), err)
	}
	var sb strings.Builder
	qrterminal.GenerateWithConfig(text, qrterminal.Config{
		Level:          level,
		Writer:         &sb,
		HalfBlocks:     true,
		BlackChar:      qrterminal.BLACK_BLACK,
		BlackWhiteChar: qrterminal.BLACK_WHITE,
		WhiteChar:      qrterminal.WHITE_WHITE,
		WhiteBlackChar: qrterminal.WHITE_BLACK,
		QuietZone:      qrterminal.QUIET_ZONE,
	})
	return sb.String(), nil
}

// isQRAlnum reports whether s uses only the QR alphanumeric character set.
func isQRAlnum(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'A' <= r && r <= 'Z' || strings.ContainsRune(" $%*+-./:", r)) {
			return false
		}
	}
	return true
}
