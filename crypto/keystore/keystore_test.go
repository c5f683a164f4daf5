package keystore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testConfig uses cheap Argon2id parameters and the real limits.
var testConfig = config{
	params: kdfParams{Time: 1, Memory: 64, Threads: 1},
	limits: defaultConfig.limits,
}

var (
	pass1 = []byte("correct horse battery staple")
	pass2 = []byte("tr0ub4dor&3")
)

// testSecrets are distinctive so tests can look for them in files and
// error messages.
func testSecrets() map[string][]byte {
	return map[string][]byte{
		"folder-abc": []byte("shoal-rw-SECRETabc0123456789abcdef"),
		"folder-xyz": []byte("shoal-ro-SECRETxyz9876543210fedcba"),
		"binary":     {0x00, 0xff, 0x10, 0x80, 0x7f, 'S', 'E', 'C', 'R', 'E', 'T', 0x01},
	}
}

func open(t testing.TB, home string, pass []byte) *Store {
	t.Helper()
	s, err := openConfig(home, pass, testConfig)
	if err != nil {
		t.Fatalf("open %s: %v", home, err)
	}
	return s
}

func fill(t testing.TB, s *Store, secrets map[string][]byte) {
	t.Helper()
	for name, v := range secrets {
		if err := s.Put(name, v); err != nil {
			t.Fatalf("Put %q: %v", name, err)
		}
	}
}

func contents(s *Store) map[string][]byte {
	m := map[string][]byte{}
	for _, n := range s.Names() {
		v, _ := s.Get(n)
		m[n] = v
	}
	return m
}

func equalSecrets(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}

func checkSecrets(t testing.TB, s *Store, want map[string][]byte) {
	t.Helper()
	if got := contents(s); !equalSecrets(got, want) {
		t.Fatalf("store holds %d secrets %v, want %d %v", len(got), s.Names(), len(want), slicesKeys(want))
	}
}

func slicesKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func checkMode(t testing.TB, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Fatalf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// checkNoSecrets fails if msg (an error string or file contents) holds any
// secret, raw or base64.
func checkNoSecrets(t testing.TB, what string, msg []byte) {
	t.Helper()
	for name, v := range testSecrets() {
		if bytes.Contains(msg, v) {
			t.Fatalf("%s contains secret %q", what, name)
		}
		if bytes.Contains(msg, []byte(base64.StdEncoding.EncodeToString(v))) {
			t.Fatalf("%s contains base64 of secret %q", what, name)
		}
	}
	if bytes.Contains(msg, []byte("SECRET")) {
		t.Fatalf("%s contains part of a secret: %q", what, msg)
	}
}

func TestPlainRoundTrip(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	s := open(t, home, nil)
	if len(s.Names()) != 0 || s.Protected() {
		t.Fatalf("new store: names %v protected %v", s.Names(), s.Protected())
	}
	if exists(home) {
		t.Fatal("Open created the home before any save")
	}
	if _, ok := s.Get("nope"); ok {
		t.Fatal("Get of a missing name succeeded")
	}
	want := testSecrets()
	fill(t, s, want)
	if s.Path() != filepath.Join(home, PlainFile) {
		t.Fatalf("Path %s", s.Path())
	}
	checkMode(t, home, 0o700)
	checkMode(t, filepath.Join(home, PlainFile), 0o600)
	if exists(filepath.Join(home, SealedFile)) {
		t.Fatal("plain store wrote a sealed file")
	}
	if got := s.Names(); strings.Join(got, ",") != "binary,folder-abc,folder-xyz" {
		t.Fatalf("Names %v not sorted", got)
	}

	// Get returns a copy; Put keeps one.
	v, _ := s.Get("folder-abc")
	v[0] = 'X'
	in := []byte("mutable")
	if err := s.Put("m", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	want["m"] = []byte("mutable")
	checkSecrets(t, s, want)

	// The file is the documented format.
	b, err := os.ReadFile(filepath.Join(home, PlainFile))
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		Version int               `json:"version"`
		Secrets map[string]string `json:"secrets"`
	}
	if err := json.Unmarshal(b, &pj); err != nil || pj.Version != 1 || pj.Secrets["m"] != base64.StdEncoding.EncodeToString([]byte("mutable")) {
		t.Fatalf("keys.json is not the documented format: %v %+v", err, pj)
	}

	s2 := open(t, home, nil)
	checkSecrets(t, s2, want)

	if err := s2.Delete("m"); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete("never-there"); err != nil {
		t.Fatal(err)
	}
	delete(want, "m")
	checkSecrets(t, open(t, home, nil), want)

	// An empty secret round-trips as empty, not missing.
	if err := s2.Put("empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := open(t, home, nil).Get("empty"); !ok || len(v) != 0 {
		t.Fatalf("empty secret: %q %v", v, ok)
	}
}

func TestSealedRoundTrip(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	s := open(t, home, pass1)
	if !s.Protected() {
		t.Fatal("new store opened with a passphrase is not protected")
	}
	want := testSecrets()
	fill(t, s, want)
	sealed := filepath.Join(home, SealedFile)
	if s.Path() != sealed {
		t.Fatalf("Path %s", s.Path())
	}
	checkMode(t, home, 0o700)
	checkMode(t, sealed, 0o600)
	if exists(filepath.Join(home, PlainFile)) {
		t.Fatal("sealed store wrote keys.json")
	}
	b, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	checkNoSecrets(t, "sealed file", b)
	var hdr map[string]any
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "kdf", "time", "memory", "threads", "salt", "nonce", "ciphertext"} {
		if _, ok := hdr[k]; !ok {
			t.Fatalf("sealed file lacks %q", k)
		}
	}
	if hdr["kdf"] != "argon2id" || hdr["version"] != 1.0 || hdr["memory"] != 64.0 {
		t.Fatalf("sealed header %v", hdr)
	}

	s2 := open(t, home, pass1)
	if !s2.Protected() {
		t.Fatal("reopened sealed store is not protected")
	}
	checkSecrets(t, s2, want)
	// Saves after reopening reuse the file's key and still open.
	if err := s2.Put("later", []byte("x")); err != nil {
		t.Fatal(err)
	}
	want["later"] = []byte("x")
	checkSecrets(t, open(t, home, pass1), want)

	// Each save uses a fresh nonce.
	b2, _ := os.ReadFile(sealed)
	var h1, h2 sealedJSON
	json.Unmarshal(b, &h1)
	json.Unmarshal(b2, &h2)
	if h1.Nonce == h2.Nonce {
		t.Fatal("two saves used the same nonce")
	}
}

func TestWrongPassphrase(t *testing.T) {
	home := t.TempDir()
	fill(t, open(t, home, pass1), testSecrets())
	before, _ := os.ReadFile(filepath.Join(home, SealedFile))
	_, err := openConfig(home, pass2, testConfig)
	if !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v, want ErrBadPassphrase", err)
	}
	checkNoSecrets(t, "error", []byte(err.Error()))
	after, _ := os.ReadFile(filepath.Join(home, SealedFile))
	if !bytes.Equal(before, after) {
		t.Fatal("failed open changed the file")
	}
}

func TestLocked(t *testing.T) {
	home := t.TempDir()
	fill(t, open(t, home, pass1), testSecrets())
	for _, p := range [][]byte{nil, {}} {
		_, err := openConfig(home, p, testConfig)
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("no passphrase: %v, want ErrLocked", err)
		}
		if !strings.Contains(err.Error(), "SHOAL_PASSPHRASE") || !strings.Contains(err.Error(), "--passphrase-file") {
			t.Fatalf("ErrLocked does not tell what to do: %v", err)
		}
	}
}

func TestPassphraseIgnoredForPlainStore(t *testing.T) {
	home := t.TempDir()
	fill(t, open(t, home, nil), testSecrets())
	s := open(t, home, pass1)
	if s.Protected() {
		t.Fatal("opening a plain store with a passphrase made it protected")
	}
	checkSecrets(t, s, testSecrets())
}

func TestBothFilesRefused(t *testing.T) {
	home := t.TempDir()
	plainHome, sealedHome := t.TempDir(), t.TempDir()
	fill(t, open(t, plainHome, nil), testSecrets())
	fill(t, open(t, sealedHome, pass1), testSecrets())
	copyFile(t, filepath.Join(plainHome, PlainFile), filepath.Join(home, PlainFile))
	copyFile(t, filepath.Join(sealedHome, SealedFile), filepath.Join(home, SealedFile))
	for _, p := range [][]byte{nil, pass1} {
		_, err := openConfig(home, p, testConfig)
		if !errors.Is(err, ErrBothFiles) {
			t.Fatalf("both files, passphrase %q: %v, want ErrBothFiles", p, err)
		}
	}
	if !exists(filepath.Join(home, PlainFile)) || !exists(filepath.Join(home, SealedFile)) {
		t.Fatal("refusing open removed a file")
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSetPassphrase(t *testing.T) {
	home := t.TempDir()
	plain, sealed := filepath.Join(home, PlainFile), filepath.Join(home, SealedFile)
	s := open(t, home, nil)
	want := testSecrets()
	fill(t, s, want)

	// Off → off does nothing.
	if err := s.SetPassphrase(nil); err != nil {
		t.Fatal(err)
	}
	// Plain → sealed.
	if err := s.SetPassphrase(pass1); err != nil {
		t.Fatal(err)
	}
	if !s.Protected() || s.Path() != sealed || exists(plain) || !exists(sealed) {
		t.Fatalf("after sealing: protected %v path %s plain %v sealed %v", s.Protected(), s.Path(), exists(plain), exists(sealed))
	}
	checkMode(t, sealed, 0o600)
	b, _ := os.ReadFile(sealed)
	checkNoSecrets(t, "sealed file", b)
	checkSecrets(t, open(t, home, pass1), want)
	if _, err := openConfig(home, nil, testConfig); !errors.Is(err, ErrLocked) {
		t.Fatalf("after sealing, open without passphrase: %v", err)
	}

	// Sealed → sealed with a new passphrase.
	if err := s.SetPassphrase(pass2); err != nil {
		t.Fatal(err)
	}
	if _, err := openConfig(home, pass1, testConfig); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("old passphrase after change: %v", err)
	}
	s2 := open(t, home, pass2)
	checkSecrets(t, s2, want)

	// Sealed → plain, from a reopened store.
	if err := s2.SetPassphrase(nil); err != nil {
		t.Fatal(err)
	}
	if s2.Protected() || s2.Path() != plain || !exists(plain) || exists(sealed) {
		t.Fatalf("after unsealing: protected %v path %s plain %v sealed %v", s2.Protected(), s2.Path(), exists(plain), exists(sealed))
	}
	checkMode(t, plain, 0o600)
	checkSecrets(t, open(t, home, nil), want)

	// Sealing a store that has no file yet creates the sealed file.
	home2 := filepath.Join(t.TempDir(), "new")
	s3 := open(t, home2, nil)
	if err := s3.SetPassphrase(pass1); err != nil {
		t.Fatal(err)
	}
	checkMode(t, home2, 0o700)
	checkSecrets(t, open(t, home2, pass1), map[string][]byte{})
}

// TestCrashSafety checks, at every step of writing files, that a crash at
// that point would leave at least one complete copy of the secrets: it
// snapshots the home at each step and opens each store file of the snapshot
// on its own.
func TestCrashSafety(t *testing.T) {
	want := testSecrets()
	type transition struct {
		name      string
		startPass []byte // nil: plain
		do        func(*Store) error
		after     map[string][]byte // for Put: the secrets after
	}
	withNew := maps.Clone(want)
	withNew["new"] = []byte("new-secret")
	transitions := []transition{
		{"seal", nil, func(s *Store) error { return s.SetPassphrase(pass1) }, want},
		{"change", pass1, func(s *Store) error { return s.SetPassphrase(pass2) }, want},
		{"unseal", pass1, func(s *Store) error { return s.SetPassphrase(nil) }, want},
		{"put-plain", nil, func(s *Store) error { return s.Put("new", []byte("new-secret")) }, withNew},
		{"put-sealed", pass1, func(s *Store) error { return s.Put("new", []byte("new-secret")) }, withNew},
	}
	for _, tr := range transitions {
		t.Run(tr.name, func(t *testing.T) {
			home := t.TempDir()
			s := open(t, home, tr.startPass)
			fill(t, s, want)
			var steps []string
			s.hook = func(step string) {
				steps = append(steps, step)
				snap := t.TempDir()
				ents, err := os.ReadDir(home)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					copyFile(t, filepath.Join(home, e.Name()), filepath.Join(snap, e.Name()))
				}
				checkRecoverable(t, step, snap, want, tr.after)
			}
			if err := tr.do(s); err != nil {
				t.Fatal(err)
			}
			s.hook = nil
			if len(steps) < 5 {
				t.Fatalf("only steps %v", steps)
			}
			t.Logf("checked steps %v", steps)
		})
	}
}

// checkRecoverable fails unless some store file in dir, opened alone, holds
// exactly before or after, and dir itself opens to one of them or reports
// ErrBothFiles.
func checkRecoverable(t *testing.T, step, dir string, before, after map[string][]byte) {
	t.Helper()
	ok := func(m map[string][]byte) bool { return equalSecrets(m, before) || equalSecrets(m, after) }
	complete := 0
	for _, name := range []string{PlainFile, SealedFile} {
		if !exists(filepath.Join(dir, name)) {
			continue
		}
		alone := t.TempDir()
		copyFile(t, filepath.Join(dir, name), filepath.Join(alone, name))
		for _, p := range [][]byte{nil, pass1, pass2} {
			if s, err := openConfig(alone, p, testConfig); err == nil && ok(contents(s)) {
				complete++
				break
			}
		}
	}
	if complete == 0 {
		t.Fatalf("step %s: no complete store file would survive a crash", step)
	}
	for _, p := range [][]byte{pass1, pass2, nil} {
		s, err := openConfig(dir, p, testConfig)
		if errors.Is(err, ErrBothFiles) {
			return
		}
		if err == nil && ok(contents(s)) {
			return
		}
	}
	t.Fatalf("step %s: the home would not open after a crash", step)
}

func TestCorruptFiles(t *testing.T) {
	valid := func(t *testing.T) (plain, sealed []byte) {
		h1, h2 := t.TempDir(), t.TempDir()
		fill(t, open(t, h1, nil), testSecrets())
		fill(t, open(t, h2, pass1), testSecrets())
		plain, _ = os.ReadFile(filepath.Join(h1, PlainFile))
		sealed, _ = os.ReadFile(filepath.Join(h2, SealedFile))
		return plain, sealed
	}
	plain, sealed := valid(t)
	editSealed := func(f func(*sealedJSON)) []byte {
		var sj sealedJSON
		if err := json.Unmarshal(sealed, &sj); err != nil {
			t.Fatal(err)
		}
		f(&sj)
		b, _ := json.Marshal(sj)
		return b
	}
	flipTag := editSealed(func(sj *sealedJSON) {
		ct, _ := base64.StdEncoding.DecodeString(sj.Ciphertext)
		ct[len(ct)-1] ^= 1
		sj.Ciphertext = base64.StdEncoding.EncodeToString(ct)
	})
	flipBody := editSealed(func(sj *sealedJSON) {
		ct, _ := base64.StdEncoding.DecodeString(sj.Ciphertext)
		ct[0] ^= 0x80
		sj.Ciphertext = base64.StdEncoding.EncodeToString(ct)
	})
	secret := string(testSecrets()["folder-abc"])
	cases := []struct {
		name    string
		file    string
		data    []byte
		wantErr error
		wantMsg string
	}{
		{"plain truncated", PlainFile, plain[:len(plain)/2], ErrCorrupt, "malformed JSON"},
		{"plain empty", PlainFile, nil, ErrCorrupt, "malformed JSON"},
		{"plain control char in secret", PlainFile, []byte(`{"version":1,"secrets":{"a":"` + secret + "\x01" + `"}}`), ErrCorrupt, "malformed JSON"},
		{"plain unquoted secret", PlainFile, []byte(`{"version":1,"secrets":{"a":` + secret + `}}`), ErrCorrupt, "malformed JSON"},
		{"plain bad base64", PlainFile, []byte(`{"version":1,"secrets":{"a":"` + secret + `!!"}}`), ErrCorrupt, `secret "a": bad base64`},
		{"plain wrong type", PlainFile, []byte(`{"version":1,"secrets":{"a":12345}}`), ErrCorrupt, "wrong JSON type"},
		{"plain wrong version", PlainFile, []byte(`{"version":2,"secrets":{}}`), ErrCorrupt, "unsupported version 2"},
		{"plain no version", PlainFile, []byte(`{"secrets":{}}`), ErrCorrupt, "unsupported version 0"},
		{"plain trailing garbage", PlainFile, append(bytes.Clone(plain), "xx"...), ErrCorrupt, "malformed JSON"},
		{"sealed truncated", SealedFile, sealed[:len(sealed)/2], ErrCorrupt, "malformed JSON"},
		{"sealed bad tag", SealedFile, flipTag, ErrBadPassphrase, "damaged"},
		{"sealed bad ciphertext", SealedFile, flipBody, ErrBadPassphrase, "damaged"},
		{"sealed short ciphertext", SealedFile, editSealed(func(sj *sealedJSON) { sj.Ciphertext = "AAAA" }), ErrCorrupt, "shorter than its tag"},
		{"sealed bad ciphertext base64", SealedFile, editSealed(func(sj *sealedJSON) { sj.Ciphertext = "%%%" }), ErrCorrupt, "ciphertext: bad base64"},
		{"sealed bad salt", SealedFile, editSealed(func(sj *sealedJSON) { sj.Salt = "!" }), ErrCorrupt, "salt: bad base64"},
		{"sealed short salt", SealedFile, editSealed(func(sj *sealedJSON) { sj.Salt = "AAAA" }), ErrCorrupt, "salt is 3 bytes"},
		{"sealed bad nonce", SealedFile, editSealed(func(sj *sealedJSON) { sj.Nonce = "AAAA" }), ErrCorrupt, "nonce is 3 bytes"},
		{"sealed wrong kdf", SealedFile, editSealed(func(sj *sealedJSON) { sj.KDF = "scrypt" }), ErrCorrupt, `unsupported kdf "scrypt"`},
		{"sealed wrong version", SealedFile, editSealed(func(sj *sealedJSON) { sj.Version = 9 }), ErrCorrupt, "unsupported version 9"},
		{"sealed changed salt", SealedFile, editSealed(func(sj *sealedJSON) { sj.Salt = base64.StdEncoding.EncodeToString(make([]byte, 16)) }), ErrBadPassphrase, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			path := filepath.Join(home, c.file)
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := openConfig(home, pass1, testConfig)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("got %v, want %v", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("error %q does not say %q", err, c.wantMsg)
			}
			if c.file == PlainFile && !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			checkNoSecrets(t, "error", []byte(err.Error()))
			// encoding/json quotes the offending character, which may be
			// part of a secret.
			if strings.Contains(err.Error(), "'S'") || strings.Contains(err.Error(), `\x01`) {
				t.Fatalf("error %q quotes file contents", err)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, c.data) {
				t.Fatalf("failed open changed or removed the file (%v)", err)
			}
		})
	}
}

func TestHostileParams(t *testing.T) {
	h := t.TempDir()
	fill(t, open(t, h, pass1), testSecrets())
	sealed, _ := os.ReadFile(filepath.Join(h, SealedFile))
	var base map[string]any
	if err := json.Unmarshal(sealed, &base); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		value any
		msg   string
	}{
		{"memory", 1 << 30, "memory"},                // 1 TiB
		{"memory", uint64(1)<<32 + 64, "memory"},     // would wrap to 64 KiB as uint32
		{"memory", 1<<20 + 1, "memory"},              // just over 1 GiB
		{"memory", -1, "memory"},                     //
		{"memory", 0, "memory"},                      //
		{"memory", 7, "memory"},                      // below Argon2's 8 KiB per lane
		{"memory", 1e300, "memory"},                  // not an int64
		{"time", 21, "time"},                         //
		{"time", 0, "time"},                          //
		{"time", uint64(1)<<32 + 1, "time"},          // would wrap to 1
		{"threads", 0, "threads"},                    //
		{"threads", 17, "threads"},                   //
		{"threads", 257, "threads"},                  // would wrap to 1 as uint8
		{"threads", "2", "threads"},                  // wrong type
		{"memory", map[string]int{"a": 1}, "memory"}, // wrong type
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s=%v", c.field, c.value), func(t *testing.T) {
			m := maps.Clone(base)
			m[c.field] = c.value
			b, _ := json.Marshal(m)
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, SealedFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := openConfig(home, pass1, testConfig)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v, want ErrCorrupt about %s", err, c.msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("rejecting took %v", d)
			}
		})
	}
}

func TestModeFixed(t *testing.T) {
	home := t.TempDir()
	fill(t, open(t, home, nil), testSecrets())
	path := filepath.Join(home, PlainFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, open(t, home, nil), testSecrets())
	checkMode(t, path, 0o600)
}

func TestLeftoverTempRemoved(t *testing.T) {
	home := t.TempDir()
	fill(t, open(t, home, nil), testSecrets())
	leftover := filepath.Join(home, "."+PlainFile+".tmp-12345")
	other := filepath.Join(home, "unrelated.tmp-1")
	for _, p := range []string{leftover, other} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	checkSecrets(t, open(t, home, nil), testSecrets())
	if exists(leftover) {
		t.Fatal("leftover temp file not removed")
	}
	if !exists(other) {
		t.Fatal("removed a file that is not ours")
	}
}

func TestNotRegularFile(t *testing.T) {
	home := t.TempDir()
	if err := os.Mkdir(filepath.Join(home, PlainFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := openConfig(home, nil, testConfig); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory as keys.json: %v", err)
	}
}

func TestPutNames(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	for _, name := range []string{"", "a\nb", "bad\xffutf8", strings.Repeat("n", MaxNameLen+1)} {
		if err := s.Put(name, []byte("SECRET")); err == nil {
			t.Fatalf("Put(%q) succeeded", name)
		} else {
			checkNoSecrets(t, "error", []byte(err.Error()))
		}
	}
	if err := s.Put("big", make([]byte, MaxSecretLen+1)); err == nil {
		t.Fatal("Put of an oversized secret succeeded")
	}
	if err := s.Put("ok/ü-"+strings.Repeat("n", 100), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if len(s.Names()) != 1 {
		t.Fatalf("names %v", s.Names())
	}
}

// TestSaveFailureKeepsState makes saving fail and checks that memory still
// matches the disk and the error holds no secret.
func TestSaveFailureKeepsState(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	s := open(t, home, nil)
	fill(t, s, testSecrets())
	// Replace the home with a file so every save fails.
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(home, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	secret := testSecrets()["folder-abc"]
	err := s.Put("another", secret)
	if err == nil {
		t.Fatal("Put succeeded with no home")
	}
	checkNoSecrets(t, "error", []byte(err.Error()))
	if _, ok := s.Get("another"); ok {
		t.Fatal("failed Put left the secret in memory")
	}
	if err := s.Delete("folder-abc"); err == nil {
		t.Fatal("Delete succeeded with no home")
	}
	if _, ok := s.Get("folder-abc"); !ok {
		t.Fatal("failed Delete removed the secret from memory")
	}
	if err := s.SetPassphrase(pass1); err == nil {
		t.Fatal("SetPassphrase succeeded with no home")
	}
	if s.Protected() {
		t.Fatal("failed SetPassphrase left the store protected")
	}
	checkSecrets(t, s, testSecrets())
}

func TestConcurrentUse(t *testing.T) {
	home := t.TempDir()
	s := open(t, home, pass1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10 {
				name := fmt.Sprintf("g%d-%d", g, i)
				if err := s.Put(name, []byte(name)); err != nil {
					t.Error(err)
					return
				}
				if v, ok := s.Get(name); !ok || string(v) != name {
					t.Errorf("Get %s: %q %v", name, v, ok)
				}
				_ = s.Names()
				_ = s.Protected()
				_ = s.Path()
				if i%3 == 0 {
					if err := s.Delete(name); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Go(func() {
		for _, p := range [][]byte{nil, pass2, pass1} {
			if err := s.SetPassphrase(p); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if len(s.Names()) != 4*6 {
		t.Fatalf("%d names, want 24", len(s.Names()))
	}
	checkSecrets(t, open(t, home, pass1), contents(s))
}

// TestDefaultParams seals and opens with the real Argon2id parameters.
func TestDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("slow key derivation")
	}
	home := t.TempDir()
	start := time.Now()
	s, err := Open(home, pass1)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, testSecrets())
	s2, err := Open(home, pass1)
	if err != nil {
		t.Fatal(err)
	}
	checkSecrets(t, s2, testSecrets())
	t.Logf("two derivations with default parameters took %v", time.Since(start))
	b, _ := os.ReadFile(filepath.Join(home, SealedFile))
	var sj sealedJSON
	if err := json.Unmarshal(b, &sj); err != nil {
		t.Fatal(err)
	}
	if sj.Time != 3 || sj.Memory != 65536 || sj.Threads != 2 {
		t.Fatalf("default params in file: %+v", sj)
	}
}

func TestInvalidConfig(t *testing.T) {
	cfg := testConfig
	cfg.params.Memory = cfg.limits.MaxMemory + 1
	if _, err := openConfig(t.TempDir(), nil, cfg); err == nil {
		t.Fatal("config beyond its own limits accepted")
	}
}

func BenchmarkOpenSealed(b *testing.B) {
	home := b.TempDir()
	s, err := Open(home, pass1)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, s, testSecrets())
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := Open(home, pass1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/open")
}
