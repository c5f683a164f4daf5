// Package identity holds this device's Ed25519 key and the DeviceID derived
// from it.
//
// A DeviceID is byte-for-byte the libp2p peer ID of the device key (an
// identity multihash of the protobuf-encoded public key), so discovery and
// transport need no second identity. This package computes it without
// importing libp2p; transport tests check that both agree.
package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mr-tron/base58"
)

// KeyFile is the name of the device key file inside the agent's home.
const KeyFile = "device.key"

// ErrInvalidID marks a device ID that cannot be parsed.
var ErrInvalidID = errors.New("identity: invalid device ID")

// idPrefix is the identity-multihash header (code 0x00, length 36) followed by
// the libp2p PublicKey protobuf header (Type=Ed25519, Data length 32).
var idPrefix = []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}

// DeviceID identifies a device. Its underlying string holds the raw peer ID
// bytes, so transport converts it to a libp2p peer.ID without copying. The
// zero value is not a valid ID.
type DeviceID string

// FromPublicKey returns the device ID of an Ed25519 public key.
func FromPublicKey(pub ed25519.PublicKey) DeviceID {
	b := make([]byte, 0, len(idPrefix)+ed25519.PublicKeySize)
	b = append(b, idPrefix...)
	b = append(b, pub...)
	return DeviceID(b)
}

// Parse parses the full printable form of a device ID ("12D3KooW…").
func Parse(s string) (DeviceID, error) {
	s = strings.TrimSpace(s)
	raw, err := base58.Decode(s)
	if err != nil || len(raw) != len(idPrefix)+ed25519.PublicKeySize || !bytes.HasPrefix(raw, idPrefix) {
		return "", fmt.Errorf("%w: %q (want the full ID as printed by 'shoal id')", ErrInvalidID, s)
	}
	return DeviceID(raw), nil
}

// FromBytes checks raw peer-ID bytes, as carried on the wire.
func FromBytes(b []byte) (DeviceID, error) {
	if len(b) != len(idPrefix)+ed25519.PublicKeySize || !bytes.HasPrefix(b, idPrefix) {
		return "", fmt.Errorf("%w: %d raw bytes", ErrInvalidID, len(b))
	}
	return DeviceID(b), nil
}

// String returns the full printable form, identical to the libp2p peer ID.
func (d DeviceID) String() string {
	if d == "" {
		return "<no device>"
	}
	return base58.Encode([]byte(d))
}

// Short returns a 7-character form for human-facing output. Every Ed25519
// peer ID starts with "12D3KooW", so the short form skips that prefix.
func (d DeviceID) Short() string {
	s := d.String()
	if len(s) < 15 {
		return s
	}
	return s[8:15]
}

// PublicKey returns the Ed25519 public key inside the ID.
func (d DeviceID) PublicKey() ed25519.PublicKey {
	if len(d) != len(idPrefix)+ed25519.PublicKeySize {
		return nil
	}
	return ed25519.PublicKey([]byte(d)[len(idPrefix):])
}

// Uint64 is the short numeric form used as a version-vector counter ID: the
// first eight bytes of the public key, big-endian.
func (d DeviceID) Uint64() uint64 {
	pk := d.PublicKey()
	if pk == nil {
		return 0
	}
	return binary.BigEndian.Uint64(pk[:8])
}

// Bytes returns the raw ID, as carried on the wire.
func (d DeviceID) Bytes() []byte { return []byte(d) }

// LogAttr returns a structured log attribute with the short form.
func (d DeviceID) LogAttr() slog.Attr { return slog.String("device", d.Short()) }

// Key is a device's private key. Compare IDs, never keys.
type Key struct {
	_    [0]func() // incomparable: == on keys is not constant-time
	priv ed25519.PrivateKey
}

// Private returns the Ed25519 private key.
func (k *Key) Private() ed25519.PrivateKey { return k.priv }

// ID returns the device ID of the key.
func (k *Key) ID() DeviceID { return FromPublicKey(k.priv.Public().(ed25519.PublicKey)) }

// Generate makes a new random key.
func Generate() (*Key, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("generating device key: %w", err)
	}
	return &Key{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// FromSeed makes the key of a 32-byte Ed25519 seed (as kept in a key store).
func FromSeed(seed []byte) (*Key, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("device key seed of %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return &Key{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns the key's 32-byte seed, for storing it.
func (k *Key) Seed() []byte { return k.priv.Seed() }

// LoadOrCreate reads the device key from dir, creating it (mode 0600) if it
// does not exist. created reports whether a new key was made.
func LoadOrCreate(dir string) (k *Key, created bool, err error) {
	k, err = Load(dir)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("creating home %s: %w", dir, err)
	}
	k, err = Generate()
	if err != nil {
		return nil, false, err
	}
	path := filepath.Join(dir, KeyFile)
	tmp := path + ".tmp"
	seed := k.priv.Seed()
	if err := writeSync(tmp, seed); err != nil {
		return nil, false, fmt.Errorf("writing device key: %w", err)
	}
	if err := os.Link(tmp, path); err != nil { // never replace a key another process just made
		os.Remove(tmp)
		if errors.Is(err, fs.ErrExist) {
			k, err := Load(dir)
			return k, false, err
		}
		return nil, false, fmt.Errorf("installing device key: %w", err)
	}
	os.Remove(tmp)
	return k, true, nil
}

// Load reads the device key from dir.
func Load(dir string) (*Key, error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading device key: %w", err)
	}
	if len(b) != ed25519.SeedSize {
		return nil, fmt.Errorf("reading device key %s: want %d bytes, file has %d", path, ed25519.SeedSize, len(b))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		slog.Warn("Device key is readable by others; fixing mode", slog.String("path", path))
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("fixing device key mode: %w", err)
		}
	}
	return &Key{priv: ed25519.NewKeyFromSeed(b)}, nil
}

func writeSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
