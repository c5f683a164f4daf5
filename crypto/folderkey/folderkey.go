// Package folderkey derives, prints and parses the secrets of a shared folder.
//
// A folder has three access levels, linked by a one-way chain:
//
//	read-write secret  rw  = 32 random bytes
//	read-only secret   ro  = HKDF-SHA256(rw,  info "shoal ro v1")
//	encrypted secret   enc = HKDF-SHA256(ro,  info "shoal enc v1")
//	folder ID              = base32(SHA-256("shoal folder id v1\x00" || enc || writerPub)[:20])
//
// Each step is one-way: a holder of one level computes every level below it
// and none above it. The writer key is an Ed25519 key whose seed is
// HKDF-SHA256(rw, info "shoal writer v1"); only read-write holders can sign,
// but its public half travels with the lower-level keys, so every level can
// verify records and the folder ID commits to it. All HKDF calls use an empty
// salt and produce 32 bytes.
//
// # Printable keys
//
// A key is printed as a type prefix followed by lowercase, unpadded base32
// (RFC 4648 alphabet) of payload || checksum, where checksum is
// SHA-256(prefix || payload)[:4]:
//
//	shoal-rw-  + base32(rw || checksum)               67 characters
//	shoal-ro-  + base32(ro || writerPub || checksum)  118 characters
//	shoal-enc- + base32(enc || writerPub || checksum) 119 characters
//
// [Parse] accepts surrounding whitespace, any letter case, spaces, dashes and
// zero-width characters anywhere in the key, and the digit 0 for the letter o
// (people copy keys from chat and paper). The checksum turns typos and
// truncation into [ErrMistyped] or [ErrMalformed] instead of a different key.
//
// # Content encryption
//
// Read-only and read-write holders can encrypt names and blocks for
// encrypted peers, which store and forward data they cannot read; see
// [Secret.EncryptName] and [Secret.SealBlock].
//
// A [Secret] is immutable (UnmarshalText aside) and safe for concurrent use.
// Its String, GoString, Format and LogValue methods never print key material;
// MarshalText does (it exists for storage), so never JSON-encode a value
// holding a Secret into a log.
package folderkey

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"strconv"
	"strings"
)

// Access is a level of access to a folder. Higher levels include the lower
// ones, so levels compare with < and >.
type Access int

// The access levels, lowest first.
const (
	// Encrypted peers store and forward encrypted data and cannot read it.
	Encrypted Access = 1
	// ReadOnly devices read and decrypt the folder but cannot sign changes.
	ReadOnly Access = 2
	// ReadWrite devices hold the writer key and sign changes.
	ReadWrite Access = 3
)

// String returns "encrypted", "ro" or "rw".
func (a Access) String() string {
	switch a {
	case Encrypted:
		return "encrypted"
	case ReadOnly:
		return "ro"
	case ReadWrite:
		return "rw"
	}
	return "Access(" + strconv.Itoa(int(a)) + ")"
}

func (a Access) valid() bool { return a >= Encrypted && a <= ReadWrite }

// ParseAccess parses an access level: "rw" or "read-write", "ro" or
// "read-only", "encrypted" or "enc", in any letter case.
func ParseAccess(s string) (Access, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "rw", "read-write":
		return ReadWrite, nil
	case "ro", "read-only":
		return ReadOnly, nil
	case "encrypted", "enc":
		return Encrypted, nil
	}
	if len(s) > 16 {
		// Do not echo long input: it may be a key pasted into the wrong place.
		return 0, errors.New("folderkey: unknown access level (want rw, ro or encrypted)")
	}
	return 0, fmt.Errorf("folderkey: unknown access level %q (want rw, ro or encrypted)", s)
}

// Errors returned by this package. Parse errors wrap ErrUnknownKeyType,
// ErrMistyped or ErrMalformed with detail; no error message contains key
// material.
var (
	// ErrUnknownKeyType marks a string that does not start with a known key
	// prefix (shoal-rw-, shoal-ro- or shoal-enc-).
	ErrUnknownKeyType = errors.New("folderkey: not a folder key (it should start with shoal-rw-, shoal-ro- or shoal-enc-)")
	// ErrMistyped marks a key whose checksum does not match.
	ErrMistyped = errors.New("folderkey: key checksum does not match: the key was mistyped or cut short")
	// ErrMalformed marks a key with a known prefix whose body has the wrong
	// length or characters outside the base32 alphabet.
	ErrMalformed = errors.New("folderkey: malformed key")
	// ErrNotWriter is returned when signing without the read-write secret.
	ErrNotWriter = errors.New("folderkey: signing needs the read-write key")
)

const (
	secretSize   = 32
	checksumSize = 4
	folderIDSize = 20

	infoWriter = "shoal writer v1"
	infoRO     = "shoal ro v1"
	infoEnc    = "shoal enc v1"
	infoProof  = "shoal proof v1"
	infoName   = "shoal name v1"
	infoBlock  = "shoal block v1"
	infoRdv    = "shoal rendezvous v1"

	folderIDDomain = "shoal folder id v1\x00"
	signDomain     = "shoal record v1\x00"
	proofDomain    = "shoal membership v1\x00"
)

// MinNonceSize is the shortest session nonce that Proof and CheckProof
// accept.
const MinNonceSize = 16

// b32 is RFC 4648 base32 in lowercase, without padding.
var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// prefixes are the printable key prefixes by access level; compactPrefixes
// are the same without dashes, as matched after normalization.
var (
	prefixes        = [...]string{Encrypted: "shoal-enc-", ReadOnly: "shoal-ro-", ReadWrite: "shoal-rw-"}
	compactPrefixes = [...]string{Encrypted: "shoalenc", ReadOnly: "shoalro", ReadWrite: "shoalrw"}
)

// Secret holds the secrets of one folder at one access level, and every level
// below it. The zero value holds nothing: Access returns 0, Sign fails and
// Proof returns nil. Use it only through a pointer; copies share state, which
// is harmless because a Secret is immutable.
type Secret struct {
	m *material
}

// Key bytes sit two pointers away from a Secret value. When fmt prints a
// struct that holds a Secret in an unexported field, it cannot call Format,
// and for %s or %q it dereferences one pointer and prints what it finds
// (the "%!s(*T=&{…})" form); the second pointer prints as an address.
type material struct {
	access    Access
	epoch     uint32 // 0 for the folder's first secrets; Rotate adds one
	folderID  string
	writerPub ed25519.PublicKey
	sec       *privateParts
}

type privateParts struct {
	levels    [ReadWrite + 1][]byte // level secret by Access; nil when not held
	proofKeys [ReadWrite + 1][]byte // HKDF(level secret, "shoal proof v1")
	writer    ed25519.PrivateKey    // nil unless ReadWrite
	content   *contentKeys          // nil at Encrypted level
}

// Generate returns a new read-write secret.
func Generate() (*Secret, error) {
	rw := make([]byte, secretSize)
	if _, err := rand.Read(rw); err != nil {
		return nil, fmt.Errorf("folderkey: generating secret: %w", err)
	}
	return build(ReadWrite, rw, nil)
}

// fromRW builds a read-write Secret from raw bytes (golden tests).
func fromRW(rw []byte) (*Secret, error) {
	if len(rw) != secretSize {
		return nil, fmt.Errorf("folderkey: read-write secret is %d bytes, want %d", len(rw), secretSize)
	}
	return build(ReadWrite, rw, nil)
}

// derive is HKDF-SHA256 with an empty salt and a 32-byte output.
func derive(secret []byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, info, secretSize)
	if err != nil {
		// Only possible for output lengths above 255*32 bytes.
		panic("folderkey: hkdf: " + err.Error())
	}
	return k
}

// build derives everything below level a from that level's secret. pub is
// ignored at ReadWrite (it is derived).
func build(a Access, secret []byte, pub ed25519.PublicKey) (*Secret, error) {
	sec := &privateParts{}
	sec.levels[a] = bytesClone(secret)
	if a == ReadWrite {
		sec.writer = ed25519.NewKeyFromSeed(derive(secret, infoWriter))
		pub = sec.writer.Public().(ed25519.PublicKey)
		sec.levels[ReadOnly] = derive(secret, infoRO)
	}
	if a >= ReadOnly {
		sec.levels[Encrypted] = derive(sec.levels[ReadOnly], infoEnc)
		ck, err := newContentKeys(sec.levels[ReadOnly])
		if err != nil {
			return nil, err
		}
		sec.content = ck
	}
	for l := Encrypted; l <= a; l++ {
		sec.proofKeys[l] = derive(sec.levels[l], infoProof)
	}
	h := sha256.New()
	h.Write([]byte(folderIDDomain))
	h.Write(sec.levels[Encrypted])
	h.Write(pub)
	return &Secret{m: &material{
		access:    a,
		folderID:  b32.EncodeToString(h.Sum(nil)[:folderIDSize]),
		writerPub: bytesClone(pub),
		sec:       sec,
	}}, nil
}

func bytesClone(b []byte) []byte { return append([]byte(nil), b...) }

// epochSuffixSize is what a printable key of a later epoch carries after
// its payload: the epoch (4 bytes, big-endian) and the raw folder ID.
const epochSuffixSize = 4 + folderIDSize

// Rotate returns the read-write secret of the folder's next key epoch: new
// random secrets (so no key of an earlier epoch derives them) for the same
// folder ID. Removing a member moves a folder to a new epoch. The folder ID
// of a later epoch is carried, not derived: its printable keys hold it.
func (s *Secret) Rotate() (*Secret, error) {
	m := s.mat()
	if m == nil || m.access != ReadWrite {
		return nil, ErrNotWriter
	}
	next, err := Generate()
	if err != nil {
		return nil, err
	}
	next.m.epoch = m.epoch + 1
	next.m.folderID = m.folderID
	return next, nil
}

// Epoch returns the key epoch: 0 for the secrets the folder was created
// with, one more after each Rotate.
func (s *Secret) Epoch() uint32 {
	if m := s.mat(); m != nil {
		return m.epoch
	}
	return 0
}

// withEpoch sets the epoch and carried folder ID of a freshly built secret.
func (s *Secret) withEpoch(epoch uint32, folderID string) *Secret {
	if epoch > 0 {
		s.m.epoch, s.m.folderID = epoch, folderID
	}
	return s
}

func (s *Secret) mat() *material {
	if s == nil {
		return nil
	}
	return s.m
}

// Access returns the highest level held, or 0 for an empty Secret.
func (s *Secret) Access() Access {
	if m := s.mat(); m != nil {
		return m.access
	}
	return 0
}

// FolderID returns the folder ID: 32 lowercase base32 characters, the same at
// every access level. It is not secret.
func (s *Secret) FolderID() string {
	if m := s.mat(); m != nil {
		return m.folderID
	}
	return ""
}

// WriterPublic returns the public half of the folder's writer key, which
// verifies signed records at every access level.
func (s *Secret) WriterPublic() ed25519.PublicKey {
	if m := s.mat(); m != nil {
		return bytesClone(m.writerPub)
	}
	return nil
}

// Downgrade returns a Secret holding only level a and the levels below it, to
// hand to a device that should get less access. It fails if a is not a valid
// level or is above what s holds.
func (s *Secret) Downgrade(a Access) (*Secret, error) {
	m := s.mat()
	if m == nil || !a.valid() || a > m.access {
		return nil, fmt.Errorf("folderkey: cannot downgrade a %v secret to %v", s.Access(), a)
	}
	if a == m.access {
		return s, nil
	}
	d, err := build(a, m.sec.levels[a], m.writerPub)
	if err != nil {
		return nil, err
	}
	return d.withEpoch(m.epoch, m.folderID), nil
}

// Key returns the printable key of level a, if s holds it.
func (s *Secret) Key(a Access) (string, bool) {
	m := s.mat()
	if m == nil || !a.valid() || a > m.access {
		return "", false
	}
	payload := bytesClone(m.sec.levels[a])
	if a != ReadWrite {
		payload = append(payload, m.writerPub...)
	}
	if m.epoch > 0 {
		id, err := b32.DecodeString(m.folderID)
		if err != nil || len(id) != folderIDSize {
			return "", false
		}
		payload = binary.BigEndian.AppendUint32(payload, m.epoch)
		payload = append(payload, id...)
	}
	return encodeKey(a, payload), true
}

// Keys returns the printable keys of every level s holds.
func (s *Secret) Keys() map[Access]string {
	keys := make(map[Access]string, 3)
	for a := Encrypted; a <= ReadWrite; a++ {
		if k, ok := s.Key(a); ok {
			keys[a] = k
		}
	}
	return keys
}

func checksum(a Access, payload []byte) []byte {
	h := sha256.New()
	h.Write([]byte(prefixes[a]))
	h.Write(payload)
	return h.Sum(nil)[:checksumSize]
}

func encodeKey(a Access, payload []byte) string {
	body := append(payload, checksum(a, payload)...)
	return prefixes[a] + b32.EncodeToString(body)
}

func payloadSize(a Access) int {
	if a == ReadWrite {
		return secretSize
	}
	return secretSize + ed25519.PublicKeySize
}

// ignorable reports whether Parse skips r: whitespace, dashes of any kind and
// zero-width characters that chat programs insert.
func ignorable(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', '-',
		0x85, 0xa0, // next line, no-break space
		0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, // hyphens, dashes, minus
		0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, // zero-width characters
		0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
		0x2028, 0x2029, 0x202f, 0x205f, 0x3000: // other spaces
		return true
	}
	return false
}

// normalize lowercases ASCII letters and drops ignorable characters.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			b.WriteByte(byte(r) + 'a' - 'A')
		case ignorable(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBase32 reports whether s holds only characters of the lowercase alphabet.
// (encoding/base32 would silently skip newlines.)
func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// Parse parses a printable key of any level. See the package documentation
// for what it tolerates. Errors wrap ErrUnknownKeyType, ErrMistyped or
// ErrMalformed and never contain the key.
func Parse(s string) (*Secret, error) {
	clean := normalize(s)
	var a Access
	var body string
	for l := Encrypted; l <= ReadWrite; l++ {
		if rest, ok := strings.CutPrefix(clean, compactPrefixes[l]); ok {
			a, body = l, rest
			break
		}
	}
	if a == 0 {
		return nil, ErrUnknownKeyType
	}
	body = strings.ReplaceAll(body, "0", "o")
	want := b32.EncodedLen(payloadSize(a) + checksumSize)
	if len(body) == b32.EncodedLen(payloadSize(a)+epochSuffixSize+checksumSize) {
		want = len(body) // a key of a later epoch
	}
	switch {
	case len(body) < want:
		return nil, fmt.Errorf("%w: %s key is too short: %d characters after %s, want %d (was it cut short?)",
			ErrMalformed, a, len(body), prefixes[a], want)
	case len(body) > want:
		return nil, fmt.Errorf("%w: %s key is too long: %d characters after %s, want %d",
			ErrMalformed, a, len(body), prefixes[a], want)
	case !isBase32(body):
		return nil, fmt.Errorf("%w: %s key has characters other than letters and digits 2-7 after %s",
			ErrMalformed, a, prefixes[a])
	}
	raw, err := b32.DecodeString(body)
	if err != nil || (len(raw) != payloadSize(a)+checksumSize && len(raw) != payloadSize(a)+epochSuffixSize+checksumSize) {
		return nil, fmt.Errorf("%w: %s key does not decode", ErrMalformed, a)
	}
	if b32.EncodeToString(raw) != body {
		// The last character carries unused bits that must be zero.
		return nil, fmt.Errorf("%w (%s key, last character)", ErrMistyped, a)
	}
	payload, sum := raw[:len(raw)-checksumSize], raw[len(raw)-checksumSize:]
	if subtle.ConstantTimeCompare(sum, checksum(a, payload)) != 1 {
		return nil, fmt.Errorf("%w (%s key)", ErrMistyped, a)
	}
	var epoch uint32
	var folderID string
	if len(payload) > payloadSize(a) {
		suffix := payload[payloadSize(a):]
		epoch = binary.BigEndian.Uint32(suffix)
		if epoch == 0 {
			return nil, fmt.Errorf("%w: %s key names key epoch 0 in the long form", ErrMalformed, a)
		}
		folderID = b32.EncodeToString(suffix[4:])
		payload = payload[:payloadSize(a)]
	}
	var pub ed25519.PublicKey
	if a != ReadWrite {
		pub = payload[secretSize:]
	}
	sec, err := build(a, payload[:secretSize], pub)
	if err != nil {
		return nil, err
	}
	return sec.withEpoch(epoch, folderID), nil
}

func signedMessage(msg []byte) []byte {
	b := make([]byte, 0, len(signDomain)+len(msg))
	return append(append(b, signDomain...), msg...)
}

// Sign signs msg with the folder's writer key. The signature covers
// "shoal record v1\x00" || msg, so it cannot be confused with an Ed25519
// signature made with the same key for another purpose. Sign fails with
// ErrNotWriter unless s holds the read-write secret.
func (s *Secret) Sign(msg []byte) ([]byte, error) {
	m := s.mat()
	if m == nil || m.sec.writer == nil {
		return nil, ErrNotWriter
	}
	return ed25519.Sign(m.sec.writer, signedMessage(msg)), nil
}

// Verify reports whether sig is the writer's signature of msg, as made by
// Sign. Every access level can verify.
func (s *Secret) Verify(msg, sig []byte) bool {
	m := s.mat()
	if m == nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(m.writerPub, signedMessage(msg), sig)
}

// Proof proves to a peer holding level a that the caller holds it too, bound
// to one session: the identities of prover and verifier (e.g. device IDs) and
// a fresh nonce chosen by the verifier, at least MinNonceSize bytes. It is
//
//	HMAC-SHA256(key = HKDF(level secret, "shoal proof v1"),
//	            "shoal membership v1\x00" || lp(folderID) || lp(prover) ||
//	            lp(verifier) || lp(nonce) || byte(a))
//
// where lp is a uvarint length prefix. Proof returns nil if s does not hold
// level a or the nonce is too short. The proof is symmetric: only a peer
// holding level a can check it, and any holder of level a could have made it.
func (s *Secret) Proof(a Access, prover, verifier, nonce []byte) []byte {
	m := s.mat()
	if m == nil || !a.valid() || a > m.access || len(nonce) < MinNonceSize {
		return nil
	}
	return m.proof(a, prover, verifier, nonce)
}

// CheckProof reports, in constant time, whether proof is Proof(a, prover,
// verifier, nonce) for this folder. It is false if s does not hold level a
// or the nonce is shorter than MinNonceSize.
func (s *Secret) CheckProof(a Access, proof, prover, verifier, nonce []byte) bool {
	m := s.mat()
	if m == nil || !a.valid() || a > m.access || len(nonce) < MinNonceSize {
		return false
	}
	return hmac.Equal(proof, m.proof(a, prover, verifier, nonce))
}

func (m *material) proof(a Access, prover, verifier, nonce []byte) []byte {
	mac := hmac.New(sha256.New, m.sec.proofKeys[a])
	mac.Write([]byte(proofDomain))
	writeField(mac, []byte(m.folderID))
	writeField(mac, prover)
	writeField(mac, verifier)
	writeField(mac, nonce)
	mac.Write([]byte{byte(a)})
	return mac.Sum(nil)
}

func writeField(h hash.Hash, b []byte) {
	h.Write(binary.AppendUvarint(nil, uint64(len(b))))
	h.Write(b)
}

// String describes s without key material, e.g.
// "folderkey.Secret{rw, folder 3kqzv7a…}".
func (s *Secret) String() string {
	if s == nil {
		return "folderkey.Secret(nil)"
	}
	m := s.m
	if m == nil {
		return "folderkey.Secret{empty}"
	}
	return "folderkey.Secret{" + m.access.String() + ", folder " + m.folderID[:7] + "…}"
}

// GoString is String, so %#v does not print key material either.
func (s *Secret) GoString() string { return s.String() }

// Format prints String for every verb (quoted for %q), so no format verb
// prints key material.
func (s *Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, fmt.FormatString(f, 'q'), s.String())
	default:
		fmt.Fprintf(f, fmt.FormatString(f, 's'), s.String())
	}
}

// LogValue implements slog.LogValuer: the access level and folder ID, never
// key material.
func (s *Secret) LogValue() slog.Value {
	m := s.mat()
	if m == nil {
		return slog.StringValue(s.String())
	}
	return slog.GroupValue(slog.String("access", m.access.String()), slog.String("folder", m.folderID))
}

// MarshalText returns the printable key of the highest level held, for
// storage (for example in a JSON config file). The result is secret.
func (s *Secret) MarshalText() ([]byte, error) {
	k, ok := s.Key(s.Access())
	if !ok {
		return nil, errors.New("folderkey: marshaling an empty Secret")
	}
	return []byte(k), nil
}

// UnmarshalText parses a printable key, as Parse does, into s. Like any
// UnmarshalText, it must not run concurrently with other uses of s.
func (s *Secret) UnmarshalText(text []byte) error {
	p, err := Parse(string(text))
	if err != nil {
		return err
	}
	s.m = p.m
	return nil
}

// RendezvousSecret returns a secret every level holds, derived from the
// encrypted-peer secret, for discovery to make rendezvous keys from (so
// encrypted peers find members too). It reveals nothing of the levels: it
// is one HKDF output away from them. Nil for the zero Secret.
func (s *Secret) RendezvousSecret() []byte {
	m := s.mat()
	if m == nil {
		return nil
	}
	return derive(m.sec.levels[Encrypted], infoRdv)
}

// VerifyWriter checks a signature made by Sign with the writer key whose
// public half is pub (for example a later epoch's writer key announced in a
// signed removal).
func VerifyWriter(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, signedMessage(msg), sig)
}
