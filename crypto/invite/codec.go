package invite

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/shoalsync/shoal/crypto/identity"
)

// version is the payload version this package writes and reads.
const version = 1

const (
	checksumLen = 4
	// fixedLen is the fixed-size head of a version 1 body: version, ID,
	// flags and inviter key.
	fixedLen  = 1 + 16 + 1 + ed25519.PublicKeySize
	keyOffset = 1 + 16 + 1
	// minPayload is the shortest possible version 1 payload.
	minPayload = fixedLen + 1 + 1 + 2 + 1 + 1 + 1 + ed25519.SignatureSize + checksumLen
	// maxPayload bounds a payload of any version (about 4.3 KiB for the
	// largest version 1 payload).
	maxPayload = fixedLen + 2*binary.MaxVarintLen64 +
		(1 + MaxFolderIDLen) + (1 + MaxLabelLen) +
		2*(1+MaxAddrs*(2+MaxAddrLen)) +
		ed25519.SignatureSize + checksumLen
)

// signingDomain separates invite signatures from anything else the device
// key signs.
const signingDomain = "shoal invite\x00"

func signedMessage(body []byte) []byte {
	m := make([]byte, 0, len(signingDomain)+len(body))
	m = append(m, signingDomain...)
	return append(m, body...)
}

const approveFlag = 1 << 2

var accessNames = [...]string{1: AccessRW, 2: AccessRO, 3: AccessEncrypted}

// accessCode returns the 2-bit code of an access level, or 0 if unknown.
func accessCode(a string) byte {
	for i, n := range accessNames {
		if n != "" && n == a {
			return byte(i)
		}
	}
	return 0
}

func addrBytes(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty address")
	}
	if len(s) > 4*MaxAddrLen {
		return nil, errors.New("address too long")
	}
	m, err := ma.NewMultiaddr(s)
	if err != nil {
		return nil, err
	}
	return m.Bytes(), nil
}

func addrString(b []byte) (string, error) {
	m, err := ma.NewMultiaddrBytes(b)
	if err != nil {
		return "", err
	}
	s := m.String()
	if s == "" {
		return "", errors.New("empty address")
	}
	return s, nil
}

// Encode returns the binary payload: the encoded capability, the signature
// and a checksum (see the package documentation). Decode and DecodeBytes read
// it. It is computed from the fields, so an Invite whose fields were changed
// after New no longer verifies. It returns nil if the fields cannot be
// encoded, which happens only for an Invite changed or built by hand with
// out-of-bounds fields.
func (i *Invite) Encode() []byte {
	if len(i.Signature) != ed25519.SignatureSize || i.Validate() != nil {
		return nil
	}
	body, err := encodeBody(&i.Capability)
	if err != nil {
		return nil
	}
	p := append(body, i.Signature...)
	sum := sha256.Sum256(p)
	return append(p, sum[:checksumLen]...)
}

// encodeBody encodes c, which must have passed Validate (apart from
// canonical address forms, which it does not need).
func encodeBody(c *Capability) ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, version)
	b = append(b, c.ID[:]...)
	flags := accessCode(c.Access)
	if c.Approve {
		flags |= approveFlag
	}
	b = append(b, flags)
	pub := c.Inviter.PublicKey()
	if pub == nil {
		return nil, fmt.Errorf("%w: no inviter", ErrInvalid)
	}
	b = append(b, pub...)
	b = binary.AppendUvarint(b, uint64(c.Expires.Unix()))
	b = binary.AppendUvarint(b, uint64(c.Uses))
	b = appendString(b, c.FolderID)
	b = appendString(b, c.Label)
	for _, list := range [][]string{c.Addrs, c.Anchors} {
		b = binary.AppendUvarint(b, uint64(len(list)))
		for _, a := range list {
			ab, err := addrBytes(a)
			if err != nil {
				return nil, fmt.Errorf("%w: address %q: %w", ErrInvalid, truncate(a, 80), err)
			}
			b = appendString(b, string(ab))
		}
	}
	return b, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// DecodeBytes reads an invite from its binary payload (see Encode) and checks
// its structure and its signature by the inviting device. It does not check
// expiry (see Check). Errors wrap ErrGarbled, ErrUnsupported, ErrTampered or
// ErrInvalid.
func DecodeBytes(p []byte) (*Invite, error) {
	if len(p) > maxPayload {
		return nil, garbled("too long")
	}
	if len(p) < checksumLen+1 {
		return nil, garbled("cut short")
	}
	data, sum := p[:len(p)-checksumLen], p[len(p)-checksumLen:]
	if want := sha256.Sum256(data); !bytes.Equal(sum, want[:checksumLen]) {
		return nil, garbled("checksum does not match")
	}
	switch v := data[0]; {
	case v == 0:
		return nil, garbled("unknown format")
	case v > version:
		return nil, fmt.Errorf("%w (format %d); update Shoal and try the link again", ErrUnsupported, v)
	}
	if len(p) < minPayload {
		return nil, garbled("cut short")
	}
	body, sig := data[:len(data)-ed25519.SignatureSize], data[len(data)-ed25519.SignatureSize:]
	pub := ed25519.PublicKey(body[keyOffset : keyOffset+ed25519.PublicKeySize])
	if !ed25519.Verify(pub, signedMessage(body), sig) {
		return nil, fmt.Errorf("%w (its signature does not match the device that sent it); do not use it, and ask the sender for a new link", ErrTampered)
	}
	c, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	return &Invite{Capability: *c, Signature: bytes.Clone(sig)}, nil
}

// decodeBody parses a version 1 body and checks that it is valid and in
// canonical form.
func decodeBody(body []byte) (*Capability, error) {
	r := reader{b: body}
	var c Capability
	if v := r.byte(); v != version {
		return nil, garbled("unknown format")
	}
	copy(c.ID[:], r.bytes(16))
	flags := r.byte()
	if code := flags & 3; code != 0 {
		c.Access = accessNames[code]
	}
	c.Approve = flags&approveFlag != 0
	if flags&^(3|approveFlag) != 0 {
		r.fail("unknown flags")
	}
	c.Inviter = identity.FromPublicKey(ed25519.PublicKey(r.bytes(ed25519.PublicKeySize)))
	exp := r.uvarint(uint64(maxExpires.Unix()))
	c.Expires = time.Unix(int64(exp), 0).UTC()
	if exp == 0 {
		c.Expires = time.Time{}
	}
	c.Uses = int(r.uvarint(MaxUses))
	c.FolderID = r.string(MaxFolderIDLen)
	c.Label = r.string(MaxLabelLen)
	c.Addrs = r.addrs()
	c.Anchors = r.addrs()
	if r.err == nil && r.off != len(r.b) {
		r.fail("extra bytes at the end")
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w; ask the sender for a new link", err)
	}
	// Reject any other encoding of the same fields, so that an invite has
	// exactly one payload.
	if again, err := encodeBody(&c); err != nil || !bytes.Equal(again, body) {
		return nil, garbled("not in canonical form")
	}
	return &c, nil
}

// reader reads a body; after the first error every read returns zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(detail string) {
	if r.err == nil {
		r.err = garbled(detail)
	}
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b)-r.off {
		r.fail("cut short")
		return make([]byte, n)
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) byte() byte { return r.bytes(1)[0] }

func (r *reader) uvarint(max uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	if v > max {
		r.fail("number out of range")
		return 0
	}
	r.off += n
	return v
}

func (r *reader) string(max int) string {
	n := r.uvarint(uint64(max))
	return string(r.bytes(int(n)))
}

func (r *reader) addrs() []string {
	n := r.uvarint(MaxAddrs)
	if n == 0 || r.err != nil {
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		b := r.bytes(int(r.uvarint(MaxAddrLen)))
		if r.err != nil {
			return nil
		}
		s, err := addrString(b)
		if err != nil {
			r.fail("an address cannot be read")
			return nil
		}
		out = append(out, s)
	}
	return out
}
