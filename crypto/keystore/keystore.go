// Package keystore keeps an agent's secrets at rest: the device key seed and
// folder secrets, as named byte strings in one file in the agent's home.
//
// The file is either HOME/keys.json (plain) or HOME/keys.sealed (protected by
// a passphrase). Both are mode 0600; a home the store creates is mode 0700.
// Every change is written to a temporary file, synced, renamed over the old
// file, and the directory synced, so a crash leaves either the old or the new
// contents, never a torn file.
//
// Plain file:
//
//	{"version":1,"secrets":{"name":"base64 of the secret"}}
//
// Sealed file:
//
//	{"version":1,"kdf":"argon2id","time":3,"memory":65536,"threads":2,
//	 "salt":"…","nonce":"…","ciphertext":"…"}
//
// where memory is in KiB, salt, nonce and ciphertext are standard base64, and
// the ciphertext is XChaCha20-Poly1305 of the plain file's JSON under a
// 32-byte key derived from the passphrase with Argon2id. Argon2id parameters
// read from a file are bounded (time ≤ 20, memory ≤ 1 GiB, threads 1..16) so
// a damaged or hostile file cannot make Open allocate without bound.
//
// Secrets never appear in logs or error messages; secret names (folder IDs,
// "device-key") may.
package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// File names inside the agent's home.
const (
	PlainFile  = "keys.json"
	SealedFile = "keys.sealed"
)

// Limits on what Put accepts and Open reads.
const (
	// MaxNameLen is the longest secret name, in bytes.
	MaxNameLen = 256
	// MaxSecretLen is the largest single secret, in bytes.
	MaxSecretLen = 1 << 20
	// maxFileSize bounds what Open reads, so a huge file fails cleanly.
	maxFileSize = 16 << 20
)

const (
	formatVersion = 1
	kdfName       = "argon2id"
	keyLen        = chacha20poly1305.KeySize
	saltLen       = 16
	minSaltLen    = 8
	maxSaltLen    = 64
	// additionalData binds the ciphertext to this use; a ciphertext made
	// for something else with the same key does not open as a key store.
	additionalData = "shoal keystore v1"
)

var (
	// ErrLocked means the store is sealed and no passphrase was given.
	ErrLocked = errors.New("key store is protected by a passphrase; set SHOAL_PASSPHRASE or use --passphrase-file")
	// ErrBadPassphrase means the sealed store did not open with the
	// passphrase given. Authenticated encryption cannot tell a wrong
	// passphrase from a damaged ciphertext, so the message names both.
	ErrBadPassphrase = errors.New("key store: wrong passphrase (or the sealed file is damaged)")
	// ErrCorrupt means the key store file could not be decoded. The file
	// is left as it is.
	ErrCorrupt = errors.New("key store file is damaged")
	// ErrBothFiles means both keys.json and keys.sealed exist, as after an
	// interrupted SetPassphrase. Open refuses to pick one.
	ErrBothFiles = errors.New("both " + PlainFile + " and " + SealedFile + " exist (an interrupted passphrase change?); move away the one you do not want and retry")
)

// kdfParams are Argon2id's cost parameters. Memory is in KiB.
type kdfParams struct {
	Time    uint32
	Memory  uint32
	Threads uint8
}

// kdfLimits bound the parameters Open accepts from a file.
type kdfLimits struct {
	MaxTime    uint32
	MaxMemory  uint32 // KiB
	MaxThreads uint8
}

// config is what Open needs beyond home and passphrase. Tests and fuzzing use
// small parameters through openConfig; Open uses defaultConfig.
type config struct {
	params kdfParams // for new seals
	limits kdfLimits // for files read
}

var defaultConfig = config{
	params: kdfParams{Time: 3, Memory: 64 << 10, Threads: 2},
	limits: kdfLimits{MaxTime: 20, MaxMemory: 1 << 20, MaxThreads: 16},
}

// check reports whether p is within l. The error names the parameter.
func (p kdfParams) check(l kdfLimits) error {
	switch {
	case p.Time < 1 || p.Time > l.MaxTime:
		return fmt.Errorf("argon2id time %d out of range 1..%d", p.Time, l.MaxTime)
	case p.Threads < 1 || p.Threads > l.MaxThreads:
		return fmt.Errorf("argon2id threads %d out of range 1..%d", p.Threads, l.MaxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > l.MaxMemory:
		return fmt.Errorf("argon2id memory %d KiB out of range %d..%d", p.Memory, 8*uint32(p.Threads), l.MaxMemory)
	}
	return nil
}

func deriveKey(passphrase, salt []byte, p kdfParams) []byte {
	return argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, keyLen)
}

// Store holds named secrets in one file in the agent's home. It is safe for
// concurrent use. Two processes must not open the same home's store for
// writing at once: each would overwrite the other's changes.
type Store struct {
	mu      sync.Mutex
	home    string
	cfg     config
	secrets map[string][]byte

	// Sealing state, set when the store is protected. key is derived from
	// the passphrase with salt and params; every save reuses it with a
	// fresh random nonce, so a Put costs no key derivation.
	protected bool
	key       []byte
	salt      []byte
	params    kdfParams

	// hook, when set (tests only), is called after each step of writing
	// files, to check that a crash at that point loses nothing.
	hook func(step string)
}

// Open reads the key store in home.
//
// With no store file, Open returns an empty store; the file is created on
// the first save. If passphrase is non-empty the new store is sealed with
// it, otherwise it is plain.
//
// With keys.sealed, Open needs the passphrase: none gives ErrLocked, a wrong
// one ErrBadPassphrase. With keys.json the passphrase is ignored and
// Protected reports false; use SetPassphrase to seal the store. With both
// files Open returns ErrBothFiles. A damaged file gives an error wrapping
// ErrCorrupt. A failed Open never rewrites or removes the store file.
//
// A store file readable by group or others is changed to mode 0600, with a
// warning. Leftover temporary files of an interrupted save are removed.
func Open(home string, passphrase []byte) (*Store, error) {
	return openConfig(home, passphrase, defaultConfig)
}

func openConfig(home string, passphrase []byte, cfg config) (*Store, error) {
	if err := cfg.params.check(cfg.limits); err != nil {
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	s := &Store{home: home, cfg: cfg, secrets: map[string][]byte{}}
	plainPath := filepath.Join(home, PlainFile)
	sealedPath := filepath.Join(home, SealedFile)

	plain, err := readStoreFile(plainPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	havePlain := err == nil
	sealed, err := readStoreFile(sealedPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	haveSealed := err == nil

	switch {
	case havePlain && haveSealed:
		return nil, fmt.Errorf("opening key store in %s: %w", home, ErrBothFiles)
	case haveSealed:
		if len(passphrase) == 0 {
			return nil, ErrLocked
		}
		secrets, key, hdr, err := unseal(sealed, passphrase, cfg.limits)
		if err != nil {
			return nil, fmt.Errorf("opening key store %s: %w", sealedPath, err)
		}
		s.secrets = secrets
		s.protected, s.key, s.salt, s.params = true, key, hdr.salt, hdr.params
	case havePlain:
		secrets, err := decodePlain(plain)
		if err != nil {
			return nil, fmt.Errorf("opening key store %s: %w", plainPath, err)
		}
		s.secrets = secrets
	case len(passphrase) > 0:
		salt, key, err := newKey(passphrase, cfg.params)
		if err != nil {
			return nil, err
		}
		s.protected, s.key, s.salt, s.params = true, key, salt, cfg.params
	}
	removeTemps(home)
	return s, nil
}

// readStoreFile reads a store file, fixing its mode if others can read it.
func readStoreFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("opening key store: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("opening key store %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		slog.Warn("Key store is readable by others; fixing mode", slog.String("path", path))
		if err := f.Chmod(0o600); err != nil {
			return nil, fmt.Errorf("fixing key store mode: %w", err)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading key store %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("reading key store %s: %w: larger than %d bytes", path, ErrCorrupt, maxFileSize)
	}
	return b, nil
}

// removeTemps deletes temporary files left by a save that was interrupted.
// They may hold plaintext secrets, and the store file they were meant to
// replace is still complete.
func removeTemps(home string) {
	for _, name := range []string{PlainFile, SealedFile} {
		matches, _ := filepath.Glob(filepath.Join(home, tempPattern(name)))
		for _, m := range matches {
			if err := os.Remove(m); err == nil {
				slog.Info("Removed leftover key store temporary file", slog.String("path", m))
			}
		}
	}
}

func tempPattern(name string) string { return "." + name + ".tmp-*" }

// plainJSON is the plain file, and the plaintext of the sealed one.
type plainJSON struct {
	Version int               `json:"version"`
	Secrets map[string]string `json:"secrets"`
}

// sealedJSON is the sealed file. Numbers are int64 so out-of-range values
// get a clear range error rather than a decoding error.
type sealedJSON struct {
	Version    int    `json:"version"`
	KDF        string `json:"kdf"`
	Time       int64  `json:"time"`
	Memory     int64  `json:"memory"`
	Threads    int64  `json:"threads"`
	Salt       string `json:"salt"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// jsonError describes a decoding error without quoting the input: messages
// from encoding/json may contain bytes of the file, which may be secrets.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("%w: malformed JSON at byte %d", ErrCorrupt, se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("%w: wrong JSON type for field %q (want %s)", ErrCorrupt, te.Field, te.Type)
	default:
		return fmt.Errorf("%w: malformed JSON", ErrCorrupt)
	}
}

func decodePlain(b []byte) (map[string][]byte, error) {
	var p plainJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, jsonError(err)
	}
	if p.Version != formatVersion {
		return nil, fmt.Errorf("%w: unsupported version %d (want %d; written by a newer shoal?)", ErrCorrupt, p.Version, formatVersion)
	}
	secrets := make(map[string][]byte, len(p.Secrets))
	for name, enc := range p.Secrets {
		v, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			// A CorruptInputError holds only an offset, never input bytes.
			return nil, fmt.Errorf("%w: secret %q: bad base64: %v", ErrCorrupt, name, err)
		}
		secrets[name] = v
	}
	return secrets, nil
}

func encodePlain(secrets map[string][]byte) ([]byte, error) {
	p := plainJSON{Version: formatVersion, Secrets: make(map[string]string, len(secrets))}
	for name, v := range secrets {
		p.Secrets[name] = base64.StdEncoding.EncodeToString(v)
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding key store: %w", ErrCorrupt) // not reached: names are valid UTF-8
	}
	return append(b, '\n'), nil
}

// sealHeader is what a sealed file says about its key.
type sealHeader struct {
	params kdfParams
	salt   []byte
	nonce  []byte
	ct     []byte
}

// parseSealed decodes and checks a sealed file's JSON, without deriving the
// key.
func parseSealed(b []byte, l kdfLimits) (sealHeader, error) {
	var sj sealedJSON
	if err := json.Unmarshal(b, &sj); err != nil {
		return sealHeader{}, jsonError(err)
	}
	if sj.Version != formatVersion {
		return sealHeader{}, fmt.Errorf("%w: unsupported version %d (want %d; written by a newer shoal?)", ErrCorrupt, sj.Version, formatVersion)
	}
	if sj.KDF != kdfName {
		return sealHeader{}, fmt.Errorf("%w: unsupported kdf %q (want %q)", ErrCorrupt, sj.KDF, kdfName)
	}
	// Range-check in int64 before narrowing.
	if sj.Time < 1 || sj.Time > int64(l.MaxTime) {
		return sealHeader{}, fmt.Errorf("%w: argon2id time %d out of range 1..%d", ErrCorrupt, sj.Time, l.MaxTime)
	}
	if sj.Threads < 1 || sj.Threads > int64(l.MaxThreads) {
		return sealHeader{}, fmt.Errorf("%w: argon2id threads %d out of range 1..%d", ErrCorrupt, sj.Threads, l.MaxThreads)
	}
	if sj.Memory < 1 || sj.Memory > int64(l.MaxMemory) {
		return sealHeader{}, fmt.Errorf("%w: argon2id memory %d KiB out of range 1..%d", ErrCorrupt, sj.Memory, l.MaxMemory)
	}
	h := sealHeader{params: kdfParams{Time: uint32(sj.Time), Memory: uint32(sj.Memory), Threads: uint8(sj.Threads)}}
	if err := h.params.check(l); err != nil {
		return sealHeader{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	var err error
	if h.salt, err = base64.StdEncoding.DecodeString(sj.Salt); err != nil {
		return sealHeader{}, fmt.Errorf("%w: salt: bad base64: %v", ErrCorrupt, err)
	}
	if len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen {
		return sealHeader{}, fmt.Errorf("%w: salt is %d bytes, want %d..%d", ErrCorrupt, len(h.salt), minSaltLen, maxSaltLen)
	}
	if h.nonce, err = base64.StdEncoding.DecodeString(sj.Nonce); err != nil {
		return sealHeader{}, fmt.Errorf("%w: nonce: bad base64: %v", ErrCorrupt, err)
	}
	if len(h.nonce) != chacha20poly1305.NonceSizeX {
		return sealHeader{}, fmt.Errorf("%w: nonce is %d bytes, want %d", ErrCorrupt, len(h.nonce), chacha20poly1305.NonceSizeX)
	}
	if h.ct, err = base64.StdEncoding.DecodeString(sj.Ciphertext); err != nil {
		return sealHeader{}, fmt.Errorf("%w: ciphertext: bad base64: %v", ErrCorrupt, err)
	}
	if len(h.ct) < chacha20poly1305.Overhead {
		return sealHeader{}, fmt.Errorf("%w: ciphertext is %d bytes, shorter than its tag", ErrCorrupt, len(h.ct))
	}
	return h, nil
}

// unseal decrypts a sealed file. It returns the secrets, the derived key and
// the header, so later saves reuse key, salt and parameters.
func unseal(b, passphrase []byte, l kdfLimits) (map[string][]byte, []byte, sealHeader, error) {
	h, err := parseSealed(b, l)
	if err != nil {
		return nil, nil, sealHeader{}, err
	}
	key := deriveKey(passphrase, h.salt, h.params)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, nil, sealHeader{}, fmt.Errorf("creating cipher: %w", err)
	}
	pt, err := aead.Open(nil, h.nonce, h.ct, []byte(additionalData))
	if err != nil {
		return nil, nil, sealHeader{}, ErrBadPassphrase
	}
	defer clear(pt)
	secrets, err := decodePlain(pt)
	if err != nil {
		return nil, nil, sealHeader{}, fmt.Errorf("decrypted contents: %w", err)
	}
	return secrets, key, h, nil
}

func seal(plaintext, key, salt []byte, p kdfParams) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("creating cipher: %w", err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("making nonce: %w", err)
	}
	ct := aead.Seal(nil, nonce, plaintext, []byte(additionalData))
	b, err := json.MarshalIndent(sealedJSON{
		Version:    formatVersion,
		KDF:        kdfName,
		Time:       int64(p.Time),
		Memory:     int64(p.Memory),
		Threads:    int64(p.Threads),
		Salt:       base64.StdEncoding.EncodeToString(salt),
		Nonce:      base64.StdEncoding.EncodeToString(nonce),
		Ciphertext: base64.StdEncoding.EncodeToString(ct),
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding sealed key store: %w", err)
	}
	return append(b, '\n'), nil
}

// newKey makes a fresh salt and derives a key from passphrase.
func newKey(passphrase []byte, p kdfParams) (salt, key []byte, err error) {
	salt = make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, fmt.Errorf("making salt: %w", err)
	}
	return salt, deriveKey(passphrase, salt, p), nil
}

// Get returns a copy of the secret called name.
func (s *Store) Get(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.secrets[name]
	if !ok {
		return nil, false
	}
	return bytes.Clone(v), true
}

// Put stores a copy of secret under name and saves the store. If saving
// fails before the new file is in place, the store is left as it was.
func (s *Store) Put(name string, secret []byte) error {
	if err := checkName(name); err != nil {
		return err
	}
	if len(secret) > MaxSecretLen {
		return fmt.Errorf("storing secret %q: %d bytes, more than %d", name, len(secret), MaxSecretLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.secrets[name]
	v := bytes.Clone(secret)
	if v == nil {
		v = []byte{}
	}
	s.secrets[name] = v
	if installed, err := s.saveLocked(); err != nil {
		if installed {
			// The new file is in place but maybe not durable; memory
			// matches the disk.
			return fmt.Errorf("storing secret %q: %w", name, err)
		}
		if had {
			s.secrets[name] = old
		} else {
			delete(s.secrets, name)
		}
		return fmt.Errorf("storing secret %q: %w", name, err)
	}
	return nil
}

// Delete removes the secret called name and saves the store. Deleting a
// name that is not there does nothing.
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.secrets[name]
	if !had {
		return nil
	}
	delete(s.secrets, name)
	if installed, err := s.saveLocked(); err != nil {
		if !installed {
			s.secrets[name] = old
		}
		return fmt.Errorf("deleting secret %q: %w", name, err)
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("secret name is empty")
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("secret name is %d bytes, more than %d", len(name), MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("secret name %q is not valid UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("secret name %q has a control character", name)
		}
	}
	return nil
}

// Names returns the names of the secrets, sorted.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.secrets))
}

// Protected reports whether the store is sealed with a passphrase.
func (s *Store) Protected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.protected
}

// Path returns the path of the store's file: keys.sealed if the store is
// protected, keys.json if not. The file may not exist yet.
func (s *Store) Path() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return filepath.Join(s.home, s.fileName())
}

func (s *Store) fileName() string {
	if s.protected {
		return SealedFile
	}
	return PlainFile
}

// SetPassphrase changes the store's protection. A non-empty p seals the
// store with p (a new salt, and the default Argon2id parameters) in
// keys.sealed, then removes keys.json. An empty p writes keys.json, then
// removes keys.sealed. The new file is complete and synced before the old one
// is removed, so a crash at any point leaves at least one complete copy of
// the secrets (at worst both files, which Open reports as ErrBothFiles).
func (s *Store) SetPassphrase(p []byte) error {
	var salt, key []byte
	if len(p) > 0 {
		var err error
		// Derive before locking: it takes a while and needs no state.
		if salt, key, err = newKey(p, s.cfg.params); err != nil {
			return fmt.Errorf("setting passphrase: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p) == 0 && !s.protected {
		return nil
	}
	oldName := s.fileName()
	prev := struct {
		protected bool
		key, salt []byte
		params    kdfParams
	}{s.protected, s.key, s.salt, s.params}
	if len(p) > 0 {
		s.protected, s.key, s.salt, s.params = true, key, salt, s.cfg.params
	} else {
		s.protected, s.key, s.salt, s.params = false, nil, nil, kdfParams{}
	}
	data, err := s.encodeLocked()
	if err != nil {
		s.protected, s.key, s.salt, s.params = prev.protected, prev.key, prev.salt, prev.params
		return fmt.Errorf("setting passphrase: %w", err)
	}
	newName := s.fileName()
	remove := oldName
	if remove == newName {
		remove = "" // changing the passphrase: the rename replaces the file
	}
	installed, err := s.install(newName, data, remove)
	if err != nil {
		if !installed {
			s.protected, s.key, s.salt, s.params = prev.protected, prev.key, prev.salt, prev.params
		} else {
			// The new file is in place; only removing the old one failed.
			err = fmt.Errorf("%w; remove %s by hand", err, filepath.Join(s.home, remove))
		}
		return fmt.Errorf("setting passphrase: %w", err)
	}
	if prev.key != nil {
		clear(prev.key)
	}
	return nil
}

// encodeLocked returns the bytes of the store's file.
func (s *Store) encodeLocked() ([]byte, error) {
	pt, err := encodePlain(s.secrets)
	if err != nil {
		return nil, err
	}
	if !s.protected {
		return pt, nil
	}
	defer clear(pt)
	return seal(pt, s.key, s.salt, s.params)
}

// saveLocked writes the store's file. installed reports whether the new
// file is in place, even if an error followed.
func (s *Store) saveLocked() (installed bool, err error) {
	data, err := s.encodeLocked()
	if err != nil {
		return false, err
	}
	return s.install(s.fileName(), data, "")
}

func (s *Store) step(name string) {
	if s.hook != nil {
		s.hook(name)
	}
}

// install writes data to home/newName atomically and then, if oldName is
// not empty, removes home/oldName. At every point at least one of the two
// files is complete: the new one is synced and renamed into place, and the
// rename made durable, before the old one is removed. installed reports
// whether the new file is in place.
func (s *Store) install(newName string, data []byte, oldName string) (installed bool, err error) {
	if err := os.MkdirAll(s.home, 0o700); err != nil {
		return false, fmt.Errorf("creating home %s: %w", s.home, err)
	}
	f, err := os.CreateTemp(s.home, tempPattern(newName)) // mode 0600
	if err != nil {
		return false, fmt.Errorf("saving key store: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if !installed {
			os.Remove(tmp)
		}
	}()
	s.step("temp-created")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, fmt.Errorf("saving key store: %w", err)
	}
	s.step("temp-written")
	if err := f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("saving key store: %w", err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("saving key store: %w", err)
	}
	s.step("temp-synced")
	path := filepath.Join(s.home, newName)
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("saving key store: %w", err)
	}
	installed = true
	s.step("renamed")
	if err := syncDir(s.home); err != nil {
		return true, fmt.Errorf("saving key store: syncing %s: %w", s.home, err)
	}
	s.step("dir-synced")
	if oldName == "" {
		return true, nil
	}
	if err := os.Remove(filepath.Join(s.home, oldName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true, fmt.Errorf("removing old key store: %w", err)
	}
	s.step("old-removed")
	if err := syncDir(s.home); err != nil {
		return true, fmt.Errorf("removing old key store: syncing %s: %w", s.home, err)
	}
	s.step("old-removal-synced")
	return true, nil
}

// syncDir makes a rename or remove in dir durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be synced there; renames are durable enough
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
