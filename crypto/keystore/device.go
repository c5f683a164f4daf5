package keystore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shoalsync/shoal/crypto/identity"
)

// DeviceKeyName is the name under which the device key's Ed25519 seed is
// kept in the store.
const DeviceKeyName = "device-key"

// MigrateDeviceKey moves the device key from HOME/device.key (a raw 32-byte
// Ed25519 seed, as identity writes it) into s under DeviceKeyName, so a
// passphrase on the store also protects the device key. The seed is saved in
// the store first and the file removed only after that, so a crash leaves
// the key in at least one place.
//
// With no device.key there is nothing to do. If the store already holds the
// same seed, the file is just removed; if it holds a different one,
// MigrateDeviceKey refuses and changes nothing.
//
// After migrating, the caller must read the device key from the store
// (DeviceSeed): identity.LoadOrCreate would make a new key.
func MigrateDeviceKey(home string, s *Store) error {
	path := filepath.Join(home, identity.KeyFile)
	seed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("migrating device key: %w", err)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return fmt.Errorf("migrating device key: %s has %d bytes, want %d", path, len(seed), ed25519.SeedSize)
	}
	// Hold the lock across check and put so no one slips a different key
	// in between.
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.secrets[DeviceKeyName]; ok {
		if subtle.ConstantTimeCompare(have, seed) != 1 {
			return fmt.Errorf("migrating device key: the key store already holds a different device key; leaving %s in place", path)
		}
	} else {
		s.secrets[DeviceKeyName] = bytes.Clone(seed)
		if installed, err := s.saveLocked(); err != nil {
			if !installed {
				delete(s.secrets, DeviceKeyName)
			}
			return fmt.Errorf("migrating device key: %w", err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("migrating device key: removing %s: %w", path, err)
	}
	if err := syncDir(home); err != nil {
		return fmt.Errorf("migrating device key: syncing %s: %w", home, err)
	}
	return nil
}

// DeviceSeed returns a copy of the device key's Ed25519 seed from s. ok is
// false if the store holds no device key. A stored value that is not a seed
// is an error, never "no key", so a caller cannot mistake a damaged entry
// for a missing one and make a new identity over it.
func DeviceSeed(s *Store) (seed []byte, ok bool, err error) {
	seed, ok = s.Get(DeviceKeyName)
	if !ok {
		return nil, false, nil
	}
	if len(seed) != ed25519.SeedSize {
		clear(seed)
		return nil, false, fmt.Errorf("reading device key from key store: %w: %q is %d bytes, want %d", ErrCorrupt, DeviceKeyName, len(seed), ed25519.SeedSize)
	}
	return seed, true, nil
}

// DeviceKey returns the device key kept in s. ok is false if the store
// holds no device key; a damaged entry is an error.
func DeviceKey(s *Store) (k *identity.Key, ok bool, err error) {
	seed, ok, err := DeviceSeed(s)
	if !ok || err != nil {
		return nil, ok, err
	}
	defer clear(seed)
	if k, err = identity.FromSeed(seed); err != nil {
		return nil, false, fmt.Errorf("reading device key from key store: %w", err)
	}
	return k, true, nil
}

// PutDeviceKey stores k's seed in s under DeviceKeyName.
func PutDeviceKey(s *Store, k *identity.Key) error {
	seed := k.Private().Seed()
	defer clear(seed)
	return s.Put(DeviceKeyName, seed)
}
