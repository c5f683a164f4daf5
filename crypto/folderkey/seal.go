package folderkey

// Content encryption for encrypted peers.
//
// Encrypted peers store and forward a folder's data without being able to
// read it. Everything here is keyed from the read-only secret, so read-only
// and read-write devices can encrypt and decrypt, and encrypted peers (which
// hold only enc) cannot:
//
//	name key  = HKDF-SHA256(ro, info "shoal name v1")
//	block key = HKDF-SHA256(ro, info "shoal block v1")
//
// All ciphers are XChaCha20-Poly1305 (24-byte nonce, 16-byte tag).
//
// What an encrypted peer still learns: which names and which blocks are
// equal (both are deterministic), the length of each path (to the byte),
// block sizes rounded up to 4 KiB, and how blocks and names change over time.
// Equality is visible only within one folder: nonces are keyed, so nobody
// without the read-only secret can test a guessed plaintext.

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

// Errors of content encryption.
var (
	// ErrNoContentKey is returned when the Secret holds only the
	// encrypted-peer level (or nothing): content keys need read-only access.
	ErrNoContentKey = errors.New("folderkey: encrypting or decrypting content needs the read-only key or above")
	// ErrDecrypt is returned for a ciphertext that does not authenticate or
	// is not in the exact form this package produces.
	ErrDecrypt = errors.New("folderkey: cannot decrypt: the data is corrupt, was tampered with, or belongs to another folder")
)

// Sizes of sealed data.
const (
	// BlockPadding is the unit to which SealBlock pads the length-prefixed
	// plaintext.
	BlockPadding = 4096
	// MaxBlockSize is the largest plaintext SealBlock accepts.
	MaxBlockSize = 1 << 30
	// NameComponentMax is the longest path component EncryptName produces.
	NameComponentMax = 200
)

const (
	nonceSize    = chacha20poly1305.NonceSizeX // 24
	tagSize      = chacha20poly1305.Overhead   // 16
	blockLenSize = 4
	nameFanOut   = 2 // length of the fan-out directory of encrypted names
	bytesDomain  = "shoal bytes v1\x00"
)

// minEncodedName is the length of the shortest encoded name (empty plaintext).
var minEncodedName = b32.EncodedLen(nonceSize + tagSize)

type contentKeys struct {
	nameKey, blockKey   []byte
	nameAEAD, blockAEAD cipher.AEAD
}

func newContentKeys(ro []byte) (*contentKeys, error) {
	ck := &contentKeys{nameKey: derive(ro, infoName), blockKey: derive(ro, infoBlock)}
	var err error
	if ck.nameAEAD, err = chacha20poly1305.NewX(ck.nameKey); err != nil {
		return nil, fmt.Errorf("folderkey: name cipher: %w", err)
	}
	if ck.blockAEAD, err = chacha20poly1305.NewX(ck.blockKey); err != nil {
		return nil, fmt.Errorf("folderkey: block cipher: %w", err)
	}
	return ck, nil
}

func (s *Secret) content() *contentKeys {
	if m := s.mat(); m != nil {
		return m.sec.content
	}
	return nil
}

func keyedNonce(key, msg []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return mac.Sum(nil)[:nonceSize]
}

// EncryptName encrypts a slash-separated path, relative to the folder root,
// as one string. It is deterministic (SIV-style): the nonce is the first 24
// bytes of HMAC-SHA256(name key, name), so the same name always gives the
// same result and different names give unrelated results.
//
// Layout: let c = lowercase unpadded base32(nonce || XChaCha20-Poly1305
// ciphertext and tag) (at least 64 characters, exactly
// ceil((len(name)+40)*8/5)). The result is c[:2], then "/", then c[2:] cut
// into components of 200 characters, the last one shorter, joined with "/":
//
//	ab/<200 chars>/<200 chars>/<rest>
//
// The first component fans files out over 1024 directories, so an encrypted
// folder never holds one huge directory, and no component exceeds 200 bytes.
// Results use only [a-z2-7/], so they are safe on case-insensitive file
// systems and never collide with other names an encrypted peer keeps next to
// them (for example with dots). No result is a directory prefix of another,
// because the first 39 characters encode the nonce, a 192-bit keyed hash of
// the name, so distinct names differ there.
//
// It fails with ErrNoContentKey at the Encrypted level.
func (s *Secret) EncryptName(name string) (string, error) {
	ck := s.content()
	if ck == nil {
		return "", ErrNoContentKey
	}
	buf := make([]byte, nonceSize, nonceSize+len(name)+tagSize)
	copy(buf, keyedNonce(ck.nameKey, []byte(name)))
	buf = ck.nameAEAD.Seal(buf, buf[:nonceSize], []byte(name), nil)
	return layoutName(b32.EncodeToString(buf)), nil
}

func layoutName(c string) string {
	if len(c) <= nameFanOut {
		return c
	}
	var b strings.Builder
	b.Grow(len(c) + len(c)/NameComponentMax + 2)
	b.WriteString(c[:nameFanOut])
	for rest := c[nameFanOut:]; rest != ""; {
		n := min(len(rest), NameComponentMax)
		b.WriteByte('/')
		b.WriteString(rest[:n])
		rest = rest[n:]
	}
	return b.String()
}

// DecryptName reverses EncryptName. It accepts only the exact output of
// EncryptName for this folder; any other string, including one with moved
// slashes or a valid ciphertext made with another nonce, fails with
// ErrDecrypt.
func (s *Secret) DecryptName(enc string) (string, error) {
	ck := s.content()
	if ck == nil {
		return "", ErrNoContentKey
	}
	c := strings.ReplaceAll(enc, "/", "")
	if len(c) < minEncodedName || !isBase32(c) || layoutName(c) != enc {
		return "", fmt.Errorf("%w: not an encrypted name", ErrDecrypt)
	}
	raw, err := b32.DecodeString(c)
	if err != nil || b32.EncodeToString(raw) != c {
		return "", fmt.Errorf("%w: bad encoding of encrypted name", ErrDecrypt)
	}
	nonce := raw[:nonceSize]
	plain, err := ck.nameAEAD.Open(nil, nonce, raw[nonceSize:], nil)
	if err != nil || !hmac.Equal(nonce, keyedNonce(ck.nameKey, plain)) {
		return "", fmt.Errorf("%w: encrypted name does not authenticate", ErrDecrypt)
	}
	return string(plain), nil
}

// paddedSize is the padded plaintext size for n data bytes.
func paddedSize(n int) int {
	return (blockLenSize + n + BlockPadding - 1) / BlockPadding * BlockPadding
}

// SealedSize returns the length of SealBlock's output for n plaintext bytes:
// 24 (nonce) + 16 (tag) + (4 + n) rounded up to a multiple of 4096. It
// returns -1 if n is negative or above MaxBlockSize.
func SealedSize(n int) int {
	if n < 0 || n > MaxBlockSize {
		return -1
	}
	return nonceSize + paddedSize(n) + tagSize
}

// SealBlock encrypts a data block for encrypted peers.
//
// The sealed form is nonce || XChaCha20-Poly1305(block key, nonce, padded),
// where nonce is the first 24 bytes of HMAC-SHA256(block key, SHA-256(plain))
// and padded is a 4-byte big-endian length of plain, plain, then zeros up to
// the next multiple of 4096 bytes (so the sealed size reveals the size only
// to 4 KiB; see SealedSize).
//
// Sealing is convergent within one folder: the same block always seals to
// the same bytes, so peers deduplicate sealed blocks and sealing is
// reproducible. The price is that an encrypted peer sees which blocks are
// equal, within and across files; it cannot test guesses, since the nonce is
// keyed.
//
// SealBlock returns nil at the Encrypted level (check Access first) or if
// plain is longer than MaxBlockSize.
func (s *Secret) SealBlock(plain []byte) []byte {
	ck := s.content()
	if ck == nil || len(plain) > MaxBlockSize {
		return nil
	}
	sum := sha256.Sum256(plain)
	padded := paddedSize(len(plain))
	out := make([]byte, nonceSize+padded, nonceSize+padded+tagSize)
	copy(out, keyedNonce(ck.blockKey, sum[:]))
	binary.BigEndian.PutUint32(out[nonceSize:], uint32(len(plain)))
	copy(out[nonceSize+blockLenSize:], plain)
	body := out[nonceSize:]
	ck.blockAEAD.Seal(body[:0], out[:nonceSize], body, nil)
	return out[:nonceSize+padded+tagSize]
}

// OpenBlock decrypts the output of SealBlock. It accepts only the exact form
// SealBlock produces for this folder (authentic ciphertext, the derived
// nonce, minimal zero padding), so every block has exactly one sealed form;
// anything else fails with ErrDecrypt.
func (s *Secret) OpenBlock(sealed []byte) ([]byte, error) {
	ck := s.content()
	if ck == nil {
		return nil, ErrNoContentKey
	}
	n := len(sealed) - nonceSize - tagSize
	if n < BlockPadding || n%BlockPadding != 0 {
		return nil, fmt.Errorf("%w: sealed block has a bad size (%d bytes)", ErrDecrypt, len(sealed))
	}
	nonce := sealed[:nonceSize]
	padded, err := ck.blockAEAD.Open(make([]byte, 0, n), nonce, sealed[nonceSize:], nil)
	if err != nil {
		return nil, fmt.Errorf("%w: block does not authenticate", ErrDecrypt)
	}
	size := binary.BigEndian.Uint32(padded)
	if uint64(size) > uint64(len(padded)-blockLenSize) || paddedSize(int(size)) != len(padded) {
		return nil, fmt.Errorf("%w: bad block length", ErrDecrypt)
	}
	end := blockLenSize + int(size)
	for _, c := range padded[end:] {
		if c != 0 {
			return nil, fmt.Errorf("%w: bad block padding", ErrDecrypt)
		}
	}
	plain := padded[blockLenSize:end:end]
	sum := sha256.Sum256(plain)
	if !hmac.Equal(nonce, keyedNonce(ck.blockKey, sum[:])) {
		return nil, fmt.Errorf("%w: block nonce does not match its content", ErrDecrypt)
	}
	return plain, nil
}

func bytesAD(ad []byte) []byte {
	b := make([]byte, 0, len(bytesDomain)+len(ad))
	return append(append(b, bytesDomain...), ad...)
}

// EncryptBytes encrypts a small metadata blob with the block key and a
// random 24-byte nonce: nonce || XChaCha20-Poly1305 ciphertext and tag (40
// bytes of overhead). ad is authenticated but not encrypted; DecryptBytes
// needs the same ad. Internally the associated data is
// "shoal bytes v1\x00" || ad, so a blob can never pass for a sealed block or
// the other way round. It fails with ErrNoContentKey at the Encrypted level.
func (s *Secret) EncryptBytes(plain, ad []byte) ([]byte, error) {
	ck := s.content()
	if ck == nil {
		return nil, ErrNoContentKey
	}
	out := make([]byte, nonceSize, nonceSize+len(plain)+tagSize)
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("folderkey: making nonce: %w", err)
	}
	return ck.blockAEAD.Seal(out, out[:nonceSize], plain, bytesAD(ad)), nil
}

// DecryptBytes decrypts the output of EncryptBytes made with the same ad.
func (s *Secret) DecryptBytes(sealed, ad []byte) ([]byte, error) {
	ck := s.content()
	if ck == nil {
		return nil, ErrNoContentKey
	}
	if len(sealed) < nonceSize+tagSize {
		return nil, fmt.Errorf("%w: blob too short (%d bytes)", ErrDecrypt, len(sealed))
	}
	plain, err := ck.blockAEAD.Open(nil, sealed[:nonceSize], sealed[nonceSize:], bytesAD(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: blob does not authenticate", ErrDecrypt)
	}
	return plain, nil
}

// SealBytes is EncryptBytes with a deterministic nonce: the first 24 bytes
// of HMAC-SHA256(block key, "shoal sealbytes v1\x00" || len(ad) || ad ||
// plain). The same input always gives the same output, so every writer
// that seals one record makes the same twin; DecryptBytes opens it. It
// reveals to whoever sees two outputs only whether they are equal.
func (s *Secret) SealBytes(plain, ad []byte) ([]byte, error) {
	ck := s.content()
	if ck == nil {
		return nil, ErrNoContentKey
	}
	mac := hmac.New(sha256.New, ck.blockKey)
	mac.Write([]byte("shoal sealbytes v1\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(ad)))
	mac.Write(n[:])
	mac.Write(ad)
	mac.Write(plain)
	out := make([]byte, nonceSize, nonceSize+len(plain)+tagSize)
	copy(out, mac.Sum(nil)[:nonceSize])
	return ck.blockAEAD.Seal(out, out[:nonceSize], plain, bytesAD(ad)), nil
}
