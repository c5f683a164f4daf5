package keystore

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoalsync/shoal/crypto/identity"
)

func TestMigrateDeviceKey(t *testing.T) {
	for _, pass := range [][]byte{nil, pass1} {
		home := t.TempDir()
		k, created, err := identity.LoadOrCreate(home)
		if err != nil || !created {
			t.Fatalf("LoadOrCreate: %v %v", created, err)
		}
		keyFile := filepath.Join(home, identity.KeyFile)
		s := open(t, home, pass)
		fill(t, s, testSecrets())
		if err := MigrateDeviceKey(home, s); err != nil {
			t.Fatal(err)
		}
		if exists(keyFile) {
			t.Fatal("device.key still there after migration")
		}
		s2 := open(t, home, pass)
		seed, ok, err := DeviceSeed(s2)
		if err != nil || !ok {
			t.Fatalf("DeviceSeed: %v %v", ok, err)
		}
		if id := identity.FromPublicKey(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)); id != k.ID() {
			t.Fatalf("migrated key has ID %s, want %s", id, k.ID())
		}
		dk, ok, err := DeviceKey(s2)
		if err != nil || !ok || dk.ID() != k.ID() {
			t.Fatalf("DeviceKey: ok %v err %v", ok, err)
		}
		if pass != nil {
			b, _ := os.ReadFile(filepath.Join(home, SealedFile))
			if bytes.Contains(b, seed) {
				t.Fatal("sealed file holds the seed in the clear")
			}
		}
		// Nothing left to migrate: a no-op.
		if err := MigrateDeviceKey(home, s2); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMigrateDeviceKeyConflicts(t *testing.T) {
	home := t.TempDir()
	k1, _, err := identity.LoadOrCreate(home)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(home, identity.KeyFile)
	s := open(t, home, nil)

	// The same key already in the store: the file is just removed.
	if err := PutDeviceKey(s, k1); err != nil {
		t.Fatal(err)
	}
	if err := MigrateDeviceKey(home, s); err != nil || exists(keyFile) {
		t.Fatalf("same key: %v, file left %v", err, exists(keyFile))
	}

	// A different key in the store: refuse and keep the file.
	k2, _, err := identity.LoadOrCreate(home)
	if err != nil {
		t.Fatal(err)
	}
	err = MigrateDeviceKey(home, s)
	if err == nil || !strings.Contains(err.Error(), "different device key") {
		t.Fatalf("different key: %v", err)
	}
	if !exists(keyFile) {
		t.Fatal("refused migration removed device.key")
	}
	seed, _, _ := DeviceSeed(s)
	if !bytes.Equal(seed, k1.Private().Seed()) {
		t.Fatal("refused migration changed the stored key")
	}
	for _, k := range []*identity.Key{k1, k2} {
		if strings.Contains(err.Error(), string(k.Private().Seed())) {
			t.Fatal("error holds a seed")
		}
	}

	// A device.key of the wrong size is an error and stays.
	if err := os.WriteFile(keyFile, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := MigrateDeviceKey(home, open(t, t.TempDir(), nil)); err == nil || !exists(keyFile) {
		t.Fatalf("short device.key: %v", err)
	}
}

func TestDeviceSeedDamaged(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	if _, ok, err := DeviceSeed(s); ok || err != nil {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	if k, ok, err := DeviceKey(s); k != nil || ok || err != nil {
		t.Fatalf("DeviceKey of empty store: %v %v", ok, err)
	}
	if err := s.Put(DeviceKeyName, []byte("not a seed")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := DeviceSeed(s); ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged entry: %v %v, want ErrCorrupt", ok, err)
	}
	if _, ok, err := DeviceKey(s); ok || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("DeviceKey of damaged entry: %v %v, want ErrCorrupt", ok, err)
	}
}
