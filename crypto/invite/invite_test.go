package invite

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"rsc.io/qr"

	"github.com/shoalsync/shoal/crypto/identity"
)

// testKey returns a device key made from a fixed seed, so links are the same
// on every run.
func testKey(t testing.TB, seed byte) *identity.Key {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, identity.KeyFile), bytes.Repeat([]byte{seed}, ed25519.SeedSize), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := identity.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testExpires = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// typicalCap is a typical invite: two addresses, no anchors.
func typicalCap() Capability {
	return Capability{
		ID:       [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		FolderID: "photos-2024",
		Label:    "Family photos",
		Access:   AccessRW,
		Addrs:    []string{"/ip4/192.168.1.20/udp/22100/quic-v1", "/ip6/2001:db8::20/udp/22100/quic-v1"},
		Expires:  testExpires,
		Uses:     3,
	}
}

// fullCap sets every field.
func fullCap() Capability {
	c := typicalCap()
	c.Label = "Fotos de la familia 📷"
	c.Access = AccessEncrypted
	c.Addrs = append(c.Addrs, "/ip4/203.0.113.7/tcp/22100", "/dns4/home.example.org/udp/22100/quic-v1")
	c.Anchors = []string{"/dns4/anchor.example.net/udp/443/quic-v1", "/ip4/198.51.100.1/tcp/4001"}
	c.Approve = true
	return c
}

func mustNew(t testing.TB, c Capability, k *identity.Key) *Invite {
	t.Helper()
	inv, err := New(c, k)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return inv
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t, 1)
	for name, c := range map[string]Capability{"typical": typicalCap(), "full": fullCap()} {
		t.Run(name, func(t *testing.T) {
			inv := mustNew(t, c, k)
			if inv.Inviter != k.ID() {
				t.Fatalf("Inviter = %s, want %s", inv.Inviter, k.ID())
			}
			link, chat := inv.Link(), inv.ChatForm()
			t.Logf("link (%d chars): %s", len(link), link)
			t.Logf("chat form (%d chars): %s", len(chat), chat)
			if !strings.HasPrefix(link, LinkPrefix) {
				t.Errorf("link %q lacks prefix", link)
			}
			checkChatForm(t, chat)
			for _, s := range []string{link, chat} {
				got, err := Decode(s)
				if err != nil {
					t.Fatalf("Decode(%q): %v", s, err)
				}
				if !got.Equal(inv) {
					t.Fatalf("Decode(%q) = %+v, want %+v", s, got, inv)
				}
			}
			got, err := DecodeBytes(inv.Encode())
			if err != nil || !got.Equal(inv) {
				t.Fatalf("DecodeBytes = %+v, %v; want %+v", got, err, inv)
			}
			if got.Capability.Validate() != nil || got.Expires.Location() != time.UTC {
				t.Errorf("decoded capability not normalised: %+v", got.Capability)
			}
		})
	}
}

func checkChatForm(t *testing.T, chat string) {
	t.Helper()
	if !strings.HasPrefix(chat, ChatPrefix) {
		t.Fatalf("chat form %q lacks prefix", chat)
	}
	groups := strings.Split(chat[len(ChatPrefix):], "-")
	for i, g := range groups {
		if g == "" || len(g) > chatGroup || (i < len(groups)-1 && len(g) != chatGroup) {
			t.Errorf("chat form group %d is %q", i, g)
		}
		for _, r := range g {
			if !('A' <= r && r <= 'Z' || '2' <= r && r <= '7') {
				t.Fatalf("chat form %q has %q", chat, r)
			}
		}
	}
}

func TestLinkIsDeterministic(t *testing.T) {
	a := mustNew(t, typicalCap(), testKey(t, 1)).Link()
	b := mustNew(t, typicalCap(), testKey(t, 1)).Link()
	if a != b {
		t.Fatalf("same invite gave two links:\n%s\n%s", a, b)
	}
}

func TestNewFillsAndNormalises(t *testing.T) {
	k := testKey(t, 1)
	c := typicalCap()
	c.ID = [16]byte{}
	c.Expires = time.Date(2031, 5, 6, 9, 8, 9, 999_999_999, time.FixedZone("CEST", 2*3600))
	c.Addrs = []string{"/ip6/0:0:0:0:0:0:0:1/udp/22100/quic-v1"}
	inv := mustNew(t, c, k)
	if inv.ID == ([16]byte{}) {
		t.Error("zero ID not filled")
	}
	if other := mustNew(t, c, k); other.ID == inv.ID {
		t.Error("two invites got the same random ID")
	}
	if !inv.Expires.Equal(testExpires) || inv.Expires.Location() != time.UTC {
		t.Errorf("Expires = %v, want %v", inv.Expires, testExpires)
	}
	if want := "/ip6/::1/udp/22100/quic-v1"; len(inv.Addrs) != 1 || inv.Addrs[0] != want {
		t.Errorf("Addrs = %q, want [%q]", inv.Addrs, want)
	}
	got, err := Decode(inv.Link())
	if err != nil || !got.Equal(inv) {
		t.Fatalf("Decode = %+v, %v; want %+v", got, err, inv)
	}
}

func TestNewRejectsOtherInviter(t *testing.T) {
	c := typicalCap()
	c.Inviter = testKey(t, 2).ID()
	if _, err := New(c, testKey(t, 1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("New with another inviter: %v, want ErrInvalid", err)
	}
	if _, err := New(typicalCap(), nil); err == nil {
		t.Fatal("New without key succeeded")
	}
}

func TestDecodeChatDamage(t *testing.T) {
	inv := mustNew(t, fullCap(), testKey(t, 1))
	link, chat := inv.Link(), inv.ChatForm()
	breakEvery := func(s string, n int, sep string) string {
		var sb strings.Builder
		for i := 0; i < len(s); i += n {
			if i > 0 {
				sb.WriteString(sep)
			}
			sb.WriteString(s[i:min(i+n, len(s))])
		}
		return sb.String()
	}
	cases := map[string]string{
		"link":                 link,
		"chat":                 chat,
		"spaces around":        "  \t" + link + " \n",
		"trailing dot":         link + ".",
		"trailing paren":       "(" + link + ")",
		"paren dot":            "(" + chat + ").",
		"angle brackets":       "<" + link + ">",
		"quotes":               `"` + link + `",`,
		"backticks":            "`" + chat + "`",
		"markdown bold":        "**" + chat + "**",
		"line breaks":          breakEvery(link, 37, "\n"),
		"crlf breaks":          breakEvery(link, 50, "\r\n"),
		"spaces inside":        breakEvery(chat, 20, " "),
		"groups on lines":      strings.ReplaceAll(chat, "-", "-\n"),
		"upper link":           strings.ToUpper(link),
		"lower chat":           strings.ToLower(chat),
		"en dashes":            strings.ReplaceAll(chat, "-", "\u2013"),
		"no dashes":            ChatPrefix + strings.ReplaceAll(chat[len(ChatPrefix):], "-", ""),
		"zero-width spaces":    breakEvery(link, 10, "\u200b"),
		"bare payload":         link[len(LinkPrefix):],
		"scheme without slash": "shoal:join/" + link[len(LinkPrefix):],
	}
	for name, s := range cases {
		got, err := Decode(s)
		if err != nil {
			t.Errorf("%s: Decode(%q): %v", name, s, err)
			continue
		}
		if !got.Equal(inv) {
			t.Errorf("%s: Decode gave %+v, want %+v", name, got, inv)
		}
	}
}

// TestDecodeFlippedCharacter changes each character of both forms to each
// of several others: Decode must never succeed, and must say "garbled" (the
// checksum catches typos before the signature check).
func TestDecodeFlippedCharacter(t *testing.T) {
	inv := mustNew(t, typicalCap(), testKey(t, 1))
	const subs = "ab27AZ-.:/x"
	n := 0
	for _, s := range []string{inv.Link(), inv.ChatForm()} {
		for i := range len(s) {
			for _, r := range subs {
				if strings.EqualFold(string(r), s[i:i+1]) {
					continue
				}
				bad := s[:i] + string(r) + s[i+1:]
				n++
				got, err := Decode(bad)
				if err == nil {
					t.Fatalf("Decode(%q) succeeded: %+v", bad, got)
				}
				if !errors.Is(err, ErrGarbled) {
					t.Fatalf("Decode(%q) = %v, want ErrGarbled", bad, err)
				}
			}
		}
	}
	t.Logf("%d altered texts rejected", n)
}

func TestDecodeTruncated(t *testing.T) {
	inv := mustNew(t, typicalCap(), testKey(t, 1))
	link := inv.Link()
	for n := 0; n < len(link); n++ {
		if _, err := Decode(link[:n]); !errors.Is(err, ErrGarbled) {
			t.Fatalf("Decode(link[:%d]) = %v, want ErrGarbled", n, err)
		}
	}
	p := inv.Encode()
	for n := 0; n < len(p); n++ {
		if _, err := DecodeBytes(p[:n]); !errors.Is(err, ErrGarbled) {
			t.Fatalf("DecodeBytes(p[:%d]) = %v, want ErrGarbled", n, err)
		}
	}
}

func TestDecodeGarbage(t *testing.T) {
	for _, s := range []string{
		"", "   ", "hello", "shoal://", "shoal://join/", "SHOAL-", "shoal://settings/abc",
		"https://example.com/join/abc", "SHOAL-AAAA-BBBB", "shoal://join/" + strings.Repeat("a", 100),
		strings.Repeat("A", 1<<20), "shoal://join/\x00\xff",
	} {
		if _, err := Decode(s); !errors.Is(err, ErrGarbled) {
			t.Errorf("Decode(%.40q) = %v, want ErrGarbled", s, err)
		}
	}
}

// seal appends a signature by k and the checksum to body, as New and Encode
// do, whatever body holds.
func seal(body []byte, k *identity.Key) []byte {
	p := append(bytes.Clone(body), ed25519.Sign(k.Private(), signedMessage(body))...)
	sum := sha256.Sum256(p)
	return append(p, sum[:checksumLen]...)
}

func TestResignedByAnotherKey(t *testing.T) {
	owner, mallory := testKey(t, 1), testKey(t, 2)
	inv := mustNew(t, typicalCap(), owner)
	body, err := encodeBody(&inv.Capability)
	if err != nil {
		t.Fatal(err)
	}
	// Inviter unchanged, signed by someone else, checksum fixed up.
	forged := seal(body, mallory)
	if _, err := DecodeBytes(forged); !errors.Is(err, ErrTampered) {
		t.Fatalf("DecodeBytes(re-signed) = %v, want ErrTampered", err)
	}
	link := LinkPrefix + strings.ToLower(b32.EncodeToString(forged))
	if _, err := Decode(link); !errors.Is(err, ErrTampered) {
		t.Fatalf("Decode(re-signed link) = %v, want ErrTampered", err)
	}

	// A field changed after signing, checksum fixed up.
	c := inv.Capability
	c.Access, c.Uses = AccessRW, 0
	body2, err := encodeBody(&c)
	if err != nil {
		t.Fatal(err)
	}
	p := append(body2, inv.Signature...)
	sum := sha256.Sum256(p)
	if _, err := DecodeBytes(append(p, sum[:checksumLen]...)); !errors.Is(err, ErrTampered) {
		t.Fatalf("DecodeBytes(changed field) = %v, want ErrTampered", err)
	}

	// Fields changed on the struct: Encode re-encodes, the signature fails.
	inv2 := *inv
	inv2.Uses = 1000
	if _, err := Decode(inv2.Link()); !errors.Is(err, ErrTampered) {
		t.Fatalf("Decode(link of changed invite) = %v, want ErrTampered", err)
	}
	if !strings.Contains(fmt.Sprint(ErrTampered), "altered") {
		t.Error("ErrTampered message does not say altered")
	}
}

// TestDecodeSignedMalformed checks the parser on payloads with a valid
// signature and checksum, as a buggy or newer sender would make.
func TestDecodeSignedMalformed(t *testing.T) {
	k := testKey(t, 1)
	inv := mustNew(t, typicalCap(), k)
	good, err := encodeBody(&inv.Capability)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets in good: fixed head, then expires (5 bytes for 2031), uses.
	expOff := fixedLen
	usesOff := expOff + len(binary.AppendUvarint(nil, uint64(testExpires.Unix())))
	folderOff := usesOff + 1
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"good", good, nil},
		{"trailing byte", append(bytes.Clone(good), 0), ErrGarbled},
		{"newer version", edit(func(b []byte) []byte { b[0] = 2; return b }), ErrUnsupported},
		{"version zero", edit(func(b []byte) []byte { b[0] = 0; return b }), ErrGarbled},
		{"unknown flag", edit(func(b []byte) []byte { b[17] |= 0x80; return b }), ErrGarbled},
		{"no access", edit(func(b []byte) []byte { b[17] &^= 3; return b }), ErrInvalid},
		{"zero ID", edit(func(b []byte) []byte { clear(b[1:17]); return b }), ErrInvalid},
		{"non-minimal varint", edit(func(b []byte) []byte {
			// uses=3 as two bytes.
			return append(append(b[:usesOff:usesOff], 0x83, 0x00), good[usesOff+1:]...)
		}), ErrGarbled},
		{"too many uses", edit(func(b []byte) []byte {
			return append(binary.AppendUvarint(b[:usesOff:usesOff], MaxUses+1), good[usesOff+1:]...)
		}), ErrGarbled},
		{"bad folder ID", edit(func(b []byte) []byte { b[folderOff+1] = '/'; return b }), ErrInvalid},
		{"folder ID longer than payload", edit(func(b []byte) []byte { b[folderOff] = 60; return b }), ErrGarbled},
		{"expiry zero", edit(func(b []byte) []byte {
			return append(append(b[:expOff:expOff], 0), good[usesOff:]...)
		}), ErrInvalid},
		{"cut short", good[:len(good)-3], ErrGarbled},
	}
	for _, tc := range cases {
		_, err := DecodeBytes(seal(tc.body, k))
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: DecodeBytes = %v, want %v", tc.name, err, tc.want)
		}
	}

	// Address lists: rebuild the tail by hand.
	head := good[:bytes.LastIndex(good, []byte("Family photos"))+len("Family photos")]
	addr, _ := addrBytes("/ip4/1.2.3.4/tcp/1")
	list := func(n int, a []byte) []byte {
		b := binary.AppendUvarint(nil, uint64(n))
		for range n {
			b = appendString(b, string(a))
		}
		return b
	}
	tails := []struct {
		name string
		tail []byte
		want error
	}{
		{"8 addresses", append(list(8, addr), 0), ErrInvalid}, // duplicates
		{"9 addresses", append(list(9, addr), 0), ErrGarbled},
		{"9 anchors", append([]byte{0}, list(9, addr)...), ErrGarbled},
		{"bad multiaddr", append(list(1, []byte{0xff, 0xff, 0x03}), 0), ErrGarbled},
		{"empty multiaddr", append(list(1, nil), 0), ErrGarbled},
		{"no lists", nil, ErrGarbled},
		{"one list", []byte{0}, ErrGarbled},
		{"no addresses", []byte{0, 0}, nil},
	}
	for _, tc := range tails {
		body := append(bytes.Clone(head), tc.tail...)
		_, err := DecodeBytes(seal(body, k))
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: DecodeBytes = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestCheckExpiry(t *testing.T) {
	inv := mustNew(t, typicalCap(), testKey(t, 1))
	if err := inv.Check(testExpires.Add(-time.Second)); err != nil {
		t.Fatalf("Check before expiry: %v", err)
	}
	for _, now := range []time.Time{testExpires, testExpires.Add(time.Hour)} {
		err := inv.Check(now)
		if !errors.Is(err, ErrExpired) {
			t.Fatalf("Check(%v) = %v, want ErrExpired", now, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "6 May 2031 at 07:08 UTC") || !strings.Contains(msg, "new link") {
			t.Errorf("expiry message %q does not say when, or what to do", msg)
		}
	}
	// Decode does not check expiry.
	if _, err := Decode(inv.Link()); err != nil {
		t.Fatal(err)
	}
}

func TestValidation(t *testing.T) {
	k := testKey(t, 1)
	addrs := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("/ip4/10.0.0.%d/udp/22100/quic-v1", i+1))
		}
		return out
	}
	longDNS := "/dns4/" + strings.Repeat("a", MaxAddrLen-len("/dns4/")-len("/tcp/1")+1) + "/tcp/1"
	okDNS := "/dns4/" + strings.Repeat("a", MaxAddrLen-len("/dns4/")-len("/tcp/1")) + "/tcp/1"
	cases := []struct {
		name string
		edit func(c *Capability)
		ok   bool
	}{
		{"typical", func(c *Capability) {}, true},
		{"folder 64", func(c *Capability) { c.FolderID = strings.Repeat("a", 64) }, true},
		{"folder 65", func(c *Capability) { c.FolderID = strings.Repeat("a", 65) }, false},
		{"folder empty", func(c *Capability) { c.FolderID = "" }, false},
		{"folder space", func(c *Capability) { c.FolderID = "a b" }, false},
		{"folder slash", func(c *Capability) { c.FolderID = "a/b" }, false},
		{"folder dotdot", func(c *Capability) { c.FolderID = ".." }, false},
		{"folder chars", func(c *Capability) { c.FolderID = "A.z_0-9" }, true},
		{"label empty", func(c *Capability) { c.Label = "" }, true},
		{"label 64", func(c *Capability) { c.Label = strings.Repeat("é", 32) }, true},
		{"label 65", func(c *Capability) { c.Label = strings.Repeat("é", 32) + "x" }, false},
		{"label bad utf8", func(c *Capability) { c.Label = "a\xffb" }, false},
		{"label escape", func(c *Capability) { c.Label = "a\x1b[2Jb" }, false},
		{"label newline", func(c *Capability) { c.Label = "a\nb" }, false},
		{"label bidi", func(c *Capability) { c.Label = "cod\u202Eexe.txt" }, false},
		{"label emoji", func(c *Capability) { c.Label = "👨‍👩‍👧 photos" }, true},
		{"access ro", func(c *Capability) { c.Access = AccessRO }, true},
		{"access empty", func(c *Capability) { c.Access = "" }, false},
		{"access other", func(c *Capability) { c.Access = "admin" }, false},
		{"access upper", func(c *Capability) { c.Access = "RW" }, false},
		{"8 addrs", func(c *Capability) { c.Addrs = addrs(8) }, true},
		{"9 addrs", func(c *Capability) { c.Addrs = addrs(9) }, false},
		{"no addrs", func(c *Capability) { c.Addrs = nil }, true},
		{"8 anchors", func(c *Capability) { c.Anchors = addrs(8) }, true},
		{"9 anchors", func(c *Capability) { c.Anchors = addrs(9) }, false},
		{"addr empty", func(c *Capability) { c.Addrs = []string{""} }, false},
		{"addr not multiaddr", func(c *Capability) { c.Addrs = []string{"1.2.3.4:22100"} }, false},
		{"addr unknown protocol", func(c *Capability) { c.Addrs = []string{"/ip4/1.2.3.4/bogus/1"} }, false},
		{"addr 256", func(c *Capability) { c.Addrs = []string{okDNS} }, true},
		{"addr 257", func(c *Capability) { c.Addrs = []string{longDNS} }, false},
		{"addr duplicate", func(c *Capability) { c.Addrs = []string{c.Addrs[0], c.Addrs[0]} }, false},
		{"anchor bad", func(c *Capability) { c.Anchors = []string{"anchor.example.net"} }, false},
		{"expires zero", func(c *Capability) { c.Expires = time.Time{} }, false},
		{"expires 1970", func(c *Capability) { c.Expires = time.Unix(0, 0) }, false},
		{"expires 9999", func(c *Capability) { c.Expires = maxExpires }, true},
		{"expires 10000", func(c *Capability) { c.Expires = maxExpires.Add(time.Second) }, false},
		{"uses 0", func(c *Capability) { c.Uses = 0 }, true},
		{"uses max", func(c *Capability) { c.Uses = MaxUses }, true},
		{"uses over", func(c *Capability) { c.Uses = MaxUses + 1 }, false},
		{"uses negative", func(c *Capability) { c.Uses = -1 }, false},
		{"bad inviter", func(c *Capability) { c.Inviter = "xyz" }, false},
	}
	for _, tc := range cases {
		c := typicalCap()
		tc.edit(&c)
		inv, err := New(c, k)
		if tc.ok {
			if err != nil {
				t.Errorf("%s: New: %v", tc.name, err)
				continue
			}
			got, err := Decode(inv.Link())
			if err != nil || !got.Equal(inv) {
				t.Errorf("%s: Decode = %v, %v", tc.name, got, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: New = %v, want ErrInvalid", tc.name, err)
		}
	}
}

// TestLargestInvite checks that an invite with every field at its bound fits
// the payload limit and round-trips, and that QR refuses it cleanly.
func TestLargestInvite(t *testing.T) {
	c := typicalCap()
	c.FolderID = strings.Repeat("f", MaxFolderIDLen)
	c.Label = strings.Repeat("l", MaxLabelLen)
	c.Uses = MaxUses
	c.Expires = maxExpires
	c.Addrs, c.Anchors = nil, nil
	for i := range MaxAddrs {
		host := strings.Repeat(string(rune('a'+i)), MaxAddrLen-len("/dns4//tcp/65535"))
		c.Addrs = append(c.Addrs, "/dns4/"+host+"/tcp/65535")
		c.Anchors = append(c.Anchors, "/dns6/"+host+"/tcp/65535")
	}
	inv := mustNew(t, c, testKey(t, 1))
	p := inv.Encode()
	if len(p) > maxPayload {
		t.Fatalf("largest payload is %d bytes, limit %d", len(p), maxPayload)
	}
	t.Logf("largest payload %d bytes (limit %d), chat form %d chars, limit for text %d", len(p), maxPayload, len(inv.ChatForm()), maxText)
	for _, s := range []string{inv.Link(), inv.ChatForm(), strings.ReplaceAll(inv.ChatForm(), "-", "-\r\n  ")} {
		got, err := Decode(s)
		if err != nil || !got.Equal(inv) {
			t.Fatalf("Decode: %v", err)
		}
	}
	if _, err := QR(inv.Link()); err == nil {
		t.Error("QR of a 7000-character link succeeded")
	}
}

func TestEncodeInvalid(t *testing.T) {
	var zero Invite
	if zero.Encode() != nil || zero.Link() != "" || zero.ChatForm() != "" {
		t.Error("zero Invite encodes")
	}
	inv := mustNew(t, typicalCap(), testKey(t, 1))
	inv.Addrs = []string{"not an address"}
	if inv.Encode() != nil {
		t.Error("invite with bad address encodes")
	}
}

func TestErrorMessages(t *testing.T) {
	_, err := Decode("shoal://join/abcdefgh")
	if msg := err.Error(); !strings.HasPrefix(msg, "invite link is garbled or cut short") || !strings.Contains(msg, "ask the sender") {
		t.Errorf("garbled message: %q", msg)
	}
}

func TestQR(t *testing.T) {
	inv := mustNew(t, typicalCap(), testKey(t, 1))
	link := inv.Link()
	out, err := QR(link)
	if err != nil {
		t.Fatal(err)
	}
	if out == "" || !strings.ContainsAny(out, "▀▄") {
		t.Fatalf("QR output has no half blocks:\n%s", out)
	}
	t.Logf("QR of %d-character link:\n%s", len(link), out)

	// Read the modules back from the half blocks and compare them with the
	// code itself.
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	width := utf8.RuneCountInString(lines[0])
	if width > qrMaxWidth {
		t.Errorf("QR is %d columns wide, want at most %d", width, qrMaxWidth)
	}
	var light [][]bool // light[y][x], including the quiet zone
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n != width {
			t.Fatalf("QR line %q is %d wide, want %d", l, n, width)
		}
		top, bottom := make([]bool, 0, width), make([]bool, 0, width)
		for _, r := range l {
			switch r {
			case '█':
				top, bottom = append(top, true), append(bottom, true)
			case '▀':
				top, bottom = append(top, true), append(bottom, false)
			case '▄':
				top, bottom = append(top, false), append(bottom, true)
			case ' ':
				top, bottom = append(top, false), append(bottom, false)
			default:
				t.Fatalf("QR has %q", r)
			}
		}
		light = append(light, top, bottom)
	}
	size := width - 2*4
	var code *qr.Code
	for _, level := range []qr.Level{qr.M, qr.L} {
		if c, err := qr.Encode(strings.ToUpper(link), level); err == nil && c.Size == size {
			code = c
			break
		}
	}
	if code == nil {
		t.Fatalf("no QR code of size %d for the upper-case link", size)
	}
	if len(light) < size+8 {
		t.Fatalf("QR has %d module rows, want %d", len(light), size+8)
	}
	for y := range size + 8 {
		for x := range size + 8 {
			wantLight := !code.Black(x-4, y-4)
			if light[y][x] != wantLight {
				t.Fatalf("module (%d,%d) light=%v, want %v", x-4, y-4, light[y][x], wantLight)
			}
		}
	}

	// Any text, not only links.
	if out, err := QR("hello"); err != nil || !strings.ContainsAny(out, "▀▄") {
		t.Errorf("QR(hello) = %q, %v", out, err)
	}
}
