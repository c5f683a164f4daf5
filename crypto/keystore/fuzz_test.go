package keystore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzConfig keeps key derivation cheap whatever the file says: limits far
// below the real ones bound each Open's time and memory.
var fuzzConfig = config{
	params: kdfParams{Time: 1, Memory: 64, Threads: 1},
	limits: kdfLimits{MaxTime: 2, MaxMemory: 256, MaxThreads: 2},
}

var fuzzPass = []byte("fuzz")

// FuzzOpen feeds arbitrary bytes to Open as keys.json or keys.sealed.
func FuzzOpen(f *testing.F) {
	plainHome, sealedHome := f.TempDir(), f.TempDir()
	for _, h := range []struct {
		home string
		pass []byte
	}{{plainHome, nil}, {sealedHome, fuzzPass}} {
		s, err := openConfig(h.home, h.pass, fuzzConfig)
		if err != nil {
			f.Fatal(err)
		}
		fill(f, s, testSecrets())
	}
	plain, err := os.ReadFile(filepath.Join(plainHome, PlainFile))
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(sealedHome, SealedFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain, false)
	f.Add(sealed, true)
	f.Add(plain, true)
	f.Add(sealed, false)
	f.Add(plain[:len(plain)/2], false)
	f.Add(sealed[:len(sealed)-20], true)
	f.Add([]byte(`{"version":1,"secrets":null}`), false)
	f.Add([]byte(`{"version":1,"kdf":"argon2id","time":1,"memory":64,"threads":1,"salt":"AAAAAAAAAAA=","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`), true)
	f.Add([]byte(`{"version":1,"kdf":"argon2id","time":20,"memory":1048576,"threads":16}`), true)
	f.Add([]byte{}, false)

	f.Fuzz(func(t *testing.T, data []byte, asSealed bool) {
		home := t.TempDir()
		name := PlainFile
		if asSealed {
			name = SealedFile
		}
		path := filepath.Join(home, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s, err := openConfig(home, fuzzPass, fuzzConfig)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Open took %v", d)
		}
		after, rerr := os.ReadFile(path)
		if rerr != nil || !bytes.Equal(after, data) {
			t.Fatalf("Open changed or removed the file (%v)", rerr)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrBadPassphrase) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		if s.Protected() != asSealed {
			t.Fatalf("opened %s, Protected %v", name, s.Protected())
		}
		// What opened saves and reopens to the same secrets.
		want := contents(s)
		if err := s.Put("fuzz-added", []byte("x")); err != nil {
			t.Fatal(err)
		}
		want["fuzz-added"] = []byte("x")
		s2, err := openConfig(home, fuzzPass, fuzzConfig)
		if err != nil {
			t.Fatalf("reopening after save: %v", err)
		}
		if !equalSecrets(contents(s2), want) {
			t.Fatal("secrets changed across save and reopen")
		}
	})
}
