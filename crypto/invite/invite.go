// Package invite makes and reads Shoal invite links.
//
// An invite is a signed, expiring capability: it names a folder, the access
// it grants, the inviting device and where to reach it. It does not carry the
// folder secret. The joiner connects to the inviter, presents the invite
// inside the encrypted session, and the inviter checks it (that it signed it
// itself, expiry, use count, approval) before handing the secret over. So a
// leaked link that has expired or is used up is harmless, and a link cannot
// be altered without the inviter noticing.
//
// # Text forms
//
// An invite has two text forms that carry the same payload:
//
//   - Link: "shoal://join/" followed by the payload in lower-case base32
//     (RFC 4648 alphabet a–z, 2–7, no padding).
//   - ChatForm: "SHOAL-" followed by the payload in upper-case base32 in
//     groups of eight separated by '-', for example
//     "SHOAL-AXXXXXXX-XXXXXXXX-…". It has no character that chat apps turn
//     into links or markdown (no _ * ~ ` : / ?), and apps may wrap it
//     between groups.
//
// Decode reads both, ignoring case, white space and line breaks anywhere,
// dashes inside the payload, and punctuation picked up around the link (a
// trailing '.', ')' or '>', surrounding quotes or backticks).
//
// # Binary payload (version 1)
//
// All integers are unsigned varints (encoding/binary Uvarint) in their
// shortest form; strings and addresses are a varint length then the bytes.
//
//	version   1 byte, 1
//	id        16 bytes
//	flags     1 byte: bits 0–1 access (1 rw, 2 ro, 3 encrypted),
//	          bit 2 approve, other bits 0
//	inviter   32 bytes: Ed25519 public key of the inviting device
//	expires   varint: Unix seconds
//	uses      varint
//	folder    varint length + folder ID
//	label     varint length + UTF-8 label
//	addrs     varint count, then each: varint length + binary multiaddr
//	anchors   varint count, then each: varint length + binary multiaddr
//	signature 64 bytes: Ed25519 over "shoal invite\x00" + all of the above
//	checksum  4 bytes: first 4 bytes of SHA-256 over all of the above
//
// Every version ends with the 4-byte checksum, so a typo or a cut-short link
// is reported as garbled rather than altered, and a payload from a newer
// Shoal is recognised as such. The encoding is canonical: Decode rejects any
// payload that New would not have produced byte for byte.
package invite

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shoalsync/shoal/crypto/identity"
)

// Access levels an invite can grant.
const (
	AccessRW        = "rw"        // read-write member
	AccessRO        = "ro"        // read-only member
	AccessEncrypted = "encrypted" // untrusted device: stores encrypted data only
)

// Bounds on the fields of a Capability.
const (
	MaxFolderIDLen = 64        // bytes in Capability.FolderID
	MaxLabelLen    = 64        // bytes of UTF-8 in Capability.Label
	MaxAddrs       = 8         // entries in Capability.Addrs and in Capability.Anchors
	MaxAddrLen     = 256       // bytes in one address, as text and as binary multiaddr
	MaxUses        = 1_000_000 // Capability.Uses
)

// LinkPrefix starts the link form; ChatPrefix starts the chat form.
const (
	LinkPrefix = "shoal://join/"
	ChatPrefix = "SHOAL-"
)

// Errors returned by this package. Returned errors wrap one of them with
// detail; their messages are meant to be shown to the user as they are.
var (
	// ErrGarbled marks text that cannot be decoded: cut short, mistyped or
	// not an invite at all.
	ErrGarbled = errors.New("invite link is garbled or cut short")
	// ErrTampered marks an invite whose signature does not match the
	// inviting device: someone changed it after it was made.
	ErrTampered = errors.New("invite link was altered")
	// ErrExpired marks an invite past its expiry time.
	ErrExpired = errors.New("invite link has expired")
	// ErrInvalid marks an invite with a field out of bounds.
	ErrInvalid = errors.New("invite is not valid")
	// ErrUnsupported marks an invite made by a newer version of Shoal.
	ErrUnsupported = errors.New("invite link was made by a newer version of Shoal")
)

// maxExpires is the last second an invite may expire at (end of year 9999).
var maxExpires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// Capability is what an invite grants.
type Capability struct {
	ID       [16]byte          // random invite ID (the inviter tracks uses by it); New fills it if zero
	FolderID string            // 1..64 characters from [A-Za-z0-9._-], not "." or ".."
	Label    string            // folder label for display, <= 64 bytes of UTF-8 without control characters, may be empty
	Access   string            // AccessRW, AccessRO or AccessEncrypted
	Inviter  identity.DeviceID // inviting device; New fills it from the key if empty
	Addrs    []string          // inviter's addresses as multiaddrs (/ip4/1.2.3.4/udp/22100/quic-v1), at most 8, each <= 256 bytes
	Anchors  []string          // optional bootstrap/anchor multiaddrs, at most 8, each <= 256 bytes
	Expires  time.Time         // UTC, second precision; New rounds down to the second; must not be zero
	Uses     int               // maximum number of uses, 0 = unlimited, <= 1,000,000
	Approve  bool              // the joiner waits for approval by a read-write member
}

// Invite is a Capability signed with the inviting device's key.
type Invite struct {
	Capability
	Signature []byte // Ed25519 signature by Inviter's key over the encoded capability
}

// New validates c and signs it with the inviting device's key. It fills an
// empty Inviter with key.ID() (and fails if Inviter is set to another
// device), a zero ID with random bytes, rounds Expires down to the second in
// UTC, and writes addresses in their canonical multiaddr form.
func New(c Capability, key *identity.Key) (*Invite, error) {
	if key == nil {
		return nil, errors.New("making invite: no device key")
	}
	if c.Inviter == "" {
		c.Inviter = key.ID()
	} else if c.Inviter != key.ID() {
		return nil, fmt.Errorf("making invite: %w: inviter %s is not this device (%s)", ErrInvalid, c.Inviter, key.ID())
	}
	if c.ID == ([16]byte{}) {
		if _, err := rand.Read(c.ID[:]); err != nil {
			return nil, fmt.Errorf("making invite ID: %w", err)
		}
	}
	if !c.Expires.IsZero() {
		c.Expires = time.Unix(c.Expires.Unix(), 0).UTC()
	}
	var err error
	if c.Addrs, err = canonicalAddrs("address", c.Addrs); err != nil {
		return nil, fmt.Errorf("making invite: %w", err)
	}
	if c.Anchors, err = canonicalAddrs("anchor", c.Anchors); err != nil {
		return nil, fmt.Errorf("making invite: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("making invite: %w", err)
	}
	body, err := encodeBody(&c)
	if err != nil {
		return nil, fmt.Errorf("making invite: %w", err)
	}
	sig := ed25519.Sign(key.Private(), signedMessage(body))
	return &Invite{Capability: c, Signature: sig}, nil
}

// Validate checks the fields of c against the bounds documented on
// Capability. Errors wrap ErrInvalid.
func (c *Capability) Validate() error {
	if c.ID == ([16]byte{}) {
		return fmt.Errorf("%w: invite ID is zero", ErrInvalid)
	}
	if err := validFolderID(c.FolderID); err != nil {
		return err
	}
	if err := validLabel(c.Label); err != nil {
		return err
	}
	if accessCode(c.Access) == 0 {
		return fmt.Errorf("%w: access %q (use %s, %s or %s)", ErrInvalid, c.Access, AccessRW, AccessRO, AccessEncrypted)
	}
	if _, err := identity.FromBytes([]byte(c.Inviter)); err != nil {
		return fmt.Errorf("%w: inviter: %w", ErrInvalid, err)
	}
	if err := validAddrs("address", c.Addrs); err != nil {
		return err
	}
	if err := validAddrs("anchor", c.Anchors); err != nil {
		return err
	}
	if c.Expires.IsZero() {
		return fmt.Errorf("%w: no expiry time", ErrInvalid)
	}
	if c.Expires.Unix() <= 0 || c.Expires.After(maxExpires) {
		return fmt.Errorf("%w: expiry time %s out of range", ErrInvalid, c.Expires.UTC().Format(time.RFC3339))
	}
	if c.Expires.Nanosecond() != 0 || c.Expires.Location() != time.UTC {
		return fmt.Errorf("%w: expiry time %s is not whole seconds in UTC", ErrInvalid, c.Expires)
	}
	if c.Uses < 0 || c.Uses > MaxUses {
		return fmt.Errorf("%w: %d uses (use 0 for unlimited, at most %d)", ErrInvalid, c.Uses, MaxUses)
	}
	return nil
}

func validFolderID(id string) error {
	const ok = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
	if id == "" || len(id) > MaxFolderIDLen || strings.Trim(id, ok) != "" || id == "." || id == ".." {
		return fmt.Errorf("%w: folder ID %q (use 1-%d letters, digits, '.', '_' or '-')", ErrInvalid, truncate(id, 80), MaxFolderIDLen)
	}
	return nil
}

// validLabel allows any printable UTF-8 but no control characters (which
// could drive the terminal the label is printed on) and no bidirectional
// overrides (which could make the label display as something else).
func validLabel(s string) error {
	if len(s) > MaxLabelLen {
		return fmt.Errorf("%w: folder label is %d bytes long (at most %d)", ErrInvalid, len(s), MaxLabelLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: folder label is not valid UTF-8", ErrInvalid)
	}
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) {
			return fmt.Errorf("%w: folder label %q has a control character", ErrInvalid, s)
		}
	}
	return nil
}

func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

func validAddrs(what string, addrs []string) error {
	if len(addrs) > MaxAddrs {
		return fmt.Errorf("%w: %d %s entries (at most %d)", ErrInvalid, len(addrs), what, MaxAddrs)
	}
	for i, a := range addrs {
		b, err := addrBytes(a)
		if err != nil {
			return fmt.Errorf("%w: %s %q: %w", ErrInvalid, what, truncate(a, 80), err)
		}
		if len(a) > MaxAddrLen || len(b) > MaxAddrLen {
			return fmt.Errorf("%w: %s %q is longer than %d bytes", ErrInvalid, what, truncate(a, 80), MaxAddrLen)
		}
		if slices.Contains(addrs[:i], a) {
			return fmt.Errorf("%w: %s %q is listed twice", ErrInvalid, what, a)
		}
	}
	return nil
}

// canonicalAddrs returns addrs in their canonical multiaddr text form.
func canonicalAddrs(what string, addrs []string) ([]string, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		b, err := addrBytes(a)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q: %w", ErrInvalid, what, truncate(a, 80), err)
		}
		if out[i], err = addrString(b); err != nil {
			return nil, fmt.Errorf("%w: %s %q: %w", ErrInvalid, what, truncate(a, 80), err)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Check reports whether the invite is still usable at now. It returns an
// error wrapping ErrExpired when now is at or after Expires. It does not
// check the signature (Decode does) or the use count (the inviter does).
func (i *Invite) Check(now time.Time) error {
	if !now.Before(i.Expires) {
		return fmt.Errorf("%w (it expired %s); ask the sender for a new link", ErrExpired, i.Expires.UTC().Format("on 2 Jan 2006 at 15:04 MST"))
	}
	return nil
}

// b32 is the payload alphabet of both text forms, upper case; the link form
// uses it in lower case.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// chatGroup is the number of payload characters between dashes in the chat
// form.
const chatGroup = 8

// Link returns the link form, "shoal://join/<payload>". It returns "" if the
// invite cannot be encoded (see Encode).
func (i *Invite) Link() string {
	p := i.Encode()
	if p == nil {
		return ""
	}
	return LinkPrefix + strings.ToLower(b32.EncodeToString(p))
}

// ChatForm returns the chat form: "SHOAL-" and the payload in upper-case
// base32, in groups of eight characters separated by '-'. It uses only A–Z,
// 2–7 and '-', so chat apps neither linkify nor reformat it. It returns "" if
// the invite cannot be encoded (see Encode).
func (i *Invite) ChatForm() string {
	p := i.Encode()
	if p == nil {
		return ""
	}
	enc := b32.EncodeToString(p)
	var sb strings.Builder
	sb.Grow(len(ChatPrefix) + len(enc) + len(enc)/chatGroup)
	sb.WriteString(ChatPrefix)
	for len(enc) > 0 {
		n := min(chatGroup, len(enc))
		sb.WriteString(enc[:n])
		enc = enc[n:]
		if len(enc) > 0 {
			sb.WriteByte('-')
		}
	}
	return sb.String()
}

// maxText bounds the text Decode looks at: the longest chat form, with room
// for line breaks and spaces that chat apps insert.
var maxText = 4 * (len(LinkPrefix) + b32.EncodedLen(maxPayload)*(chatGroup+1)/chatGroup)

// Decode reads an invite in either text form and checks its structure and
// its signature by the inviting device. It does not check expiry (see
// Check). Errors wrap ErrGarbled, ErrUnsupported, ErrTampered or ErrInvalid.
func Decode(s string) (*Invite, error) {
	if len(s) > maxText {
		return nil, garbled("far too long")
	}
	p, err := payloadText(s)
	if err != nil {
		return nil, err
	}
	if len(p) > b32.EncodedLen(maxPayload) {
		return nil, garbled("too long")
	}
	b, err := b32.DecodeString(p)
	if err != nil || b32.EncodeToString(b) != p {
		// The second check rejects texts whose last character has stray low
		// bits: they decode to the same bytes as the real link.
		return nil, garbled("not a valid invite code")
	}
	return DecodeBytes(b)
}

// payloadText extracts the base32 payload from either text form, in upper
// case, without separators.
func payloadText(s string) (string, error) {
	// Drop punctuation around the link: "<shoal://…>", "(SHOAL-…).", quotes,
	// backticks. Both forms begin and end with a letter or digit.
	s = strings.TrimFunc(s, func(r rune) bool { return !isASCIIAlnum(r) })
	// Drop white space and invisible characters anywhere (line breaks chat
	// apps insert into long words), and read any dash as '-' (apps may turn
	// '-' into another dash).
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r) || r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff' || r == '\u00ad':
			return -1
		case ('\u2010' <= r && r <= '\u2015') || r == '\u2212':
			return '-'
		}
		return r
	}, s)
	u := strings.ToUpper(s)
	switch {
	case strings.HasPrefix(u, "SHOAL://JOIN/"):
		u = u[len("SHOAL://JOIN/"):]
	case strings.HasPrefix(u, "SHOAL:JOIN/"):
		u = u[len("SHOAL:JOIN/"):]
	case strings.HasPrefix(u, ChatPrefix):
		u = u[len(ChatPrefix):]
	case strings.HasPrefix(u, "SHOAL://") || strings.HasPrefix(u, "SHOAL:"):
		return "", garbled("this shoal:// link is not an invite")
	}
	// Dashes separate groups in the chat form.
	u = strings.ReplaceAll(u, "-", "")
	if u == "" {
		return "", garbled("nothing after the prefix")
	}
	return u, nil
}

func isASCIIAlnum(r rune) bool {
	return ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
}

func garbled(detail string) error {
	return fmt.Errorf("%w (%s); copy the whole link again, or ask the sender for a new one", ErrGarbled, detail)
}

// Equal reports whether two invites have the same fields and signature.
func (i *Invite) Equal(o *Invite) bool {
	a, b := &i.Capability, &o.Capability
	return a.ID == b.ID && a.FolderID == b.FolderID && a.Label == b.Label &&
		a.Access == b.Access && a.Inviter == b.Inviter &&
		slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Anchors, b.Anchors) &&
		a.Expires.Equal(b.Expires) && a.Uses == b.Uses && a.Approve == b.Approve &&
		string(i.Signature) == string(o.Signature)
}
