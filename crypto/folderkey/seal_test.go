package folderkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestSealGolden(t *testing.T) {
	s := golden(t)
	n, err := s.EncryptName("docs/report.txt")
	if err != nil {
		t.Fatal(err)
	}
	if want := "z4/5egmxx32aj2bxtoua7jptuxze2xafdgr4trcantyznr2wcjdy4dmhikirqromaevnekngjkgkkprho6b75ej55"; n != want {
		t.Errorf("EncryptName = %s, want %s", n, want)
	}
	b := s.SealBlock([]byte("hello, world"))
	sum := sha256.Sum256(b)
	if got, want := hex.EncodeToString(sum[:]), "63b4e7393e98ecfb07ac3adccc0b12f15449384f6997970cb788d49b880e1b0a"; len(b) != 4136 || got != want {
		t.Errorf("SealBlock: %d bytes, SHA-256 %s; want 4136 bytes, %s", len(b), got, want)
	}
}

func TestContentNeedsReadOnly(t *testing.T) {
	s := generate(t)
	enc := downgrade(t, s, Encrypted)
	name, _ := s.EncryptName("a")
	block := s.SealBlock([]byte("a"))
	blob, _ := s.EncryptBytes([]byte("a"), nil)
	if _, err := enc.EncryptName("a"); !errors.Is(err, ErrNoContentKey) {
		t.Errorf("EncryptName: %v", err)
	}
	if _, err := enc.DecryptName(name); !errors.Is(err, ErrNoContentKey) {
		t.Errorf("DecryptName: %v", err)
	}
	if enc.SealBlock([]byte("a")) != nil {
		t.Error("SealBlock returned data")
	}
	if _, err := enc.OpenBlock(block); !errors.Is(err, ErrNoContentKey) {
		t.Errorf("OpenBlock: %v", err)
	}
	if _, err := enc.EncryptBytes([]byte("a"), nil); !errors.Is(err, ErrNoContentKey) {
		t.Errorf("EncryptBytes: %v", err)
	}
	if _, err := enc.DecryptBytes(blob, nil); !errors.Is(err, ErrNoContentKey) {
		t.Errorf("DecryptBytes: %v", err)
	}
	// ro and rw share the content keys.
	ro := downgrade(t, s, ReadOnly)
	if n, _ := ro.EncryptName("a"); n != name {
		t.Error("ro and rw encrypt names differently")
	}
	if !bytes.Equal(ro.SealBlock([]byte("a")), block) {
		t.Error("ro and rw seal blocks differently")
	}
	if p, err := ro.DecryptBytes(blob, nil); err != nil || string(p) != "a" {
		t.Errorf("ro DecryptBytes of rw blob: %q, %v", p, err)
	}
}

func TestNameRoundTrip(t *testing.T) {
	s, other := generate(t), generate(t)
	names := []string{
		"", "a", "a/b", "a/c", "A", "docs/report.txt", "ünïcødé/日本語.txt", "with space/and\ttab",
		strings.Repeat("x", 100), strings.Repeat("y/", 200), strings.Repeat("z", 4096),
	}
	seen := map[string]string{}
	for _, name := range names {
		enc, err := s.EncryptName(name)
		if err != nil {
			t.Fatal(err)
		}
		// Layout: 2-char fan-out, then components of ≤200 chars, all but
		// the last exactly 200, from the lowercase base32 alphabet.
		parts := strings.Split(enc, "/")
		if len(parts) < 2 || len(parts[0]) != 2 {
			t.Fatalf("EncryptName(%.20q) = %.60q: bad fan-out", name, enc)
		}
		flat := strings.Join(parts, "")
		if !isBase32(flat) || len(flat) != b32.EncodedLen(len(name)+40) {
			t.Fatalf("EncryptName(%.20q): %d characters, want %d", name, len(flat), b32.EncodedLen(len(name)+40))
		}
		for i, p := range parts[1:] {
			last := i == len(parts)-2
			if len(p) > NameComponentMax || len(p) == 0 || (!last && len(p) != NameComponentMax) {
				t.Fatalf("EncryptName(%.20q): component %d has %d characters", name, i+1, len(p))
			}
		}
		if again, _ := s.EncryptName(name); again != enc {
			t.Errorf("EncryptName(%.20q) is not deterministic", name)
		}
		if o, _ := other.EncryptName(name); o == enc {
			t.Errorf("two folders encrypt %.20q the same", name)
		}
		back, err := s.DecryptName(enc)
		if err != nil || back != name {
			t.Errorf("DecryptName(EncryptName(%.20q)) = %.20q, %v", name, back, err)
		}
		if _, err := other.DecryptName(enc); !errors.Is(err, ErrDecrypt) {
			t.Errorf("another folder decrypts %.20q: %v", name, err)
		}
		// Different names give unrelated ciphertexts: no shared prefix
		// beyond chance.
		for prevName, prev := range seen {
			common := 0
			for common < len(prev) && common < len(enc) && prev[common] == enc[common] {
				common++
			}
			if common > 8 {
				t.Errorf("%.20q and %.20q encrypt to names sharing %d characters", name, prevName, common)
			}
		}
		seen[name] = enc
	}
}

func TestNameTamper(t *testing.T) {
	s := generate(t)
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	enc, err := s.EncryptName(strings.Repeat("long/name/", 25))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, v string) {
		t.Helper()
		if got, err := s.DecryptName(v); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("DecryptName(%s) = %.20q, %v; want ErrDecrypt", what, got, err)
		}
	}
	for i := 0; i < len(enc); i++ {
		if enc[i] == '/' {
			check("without a slash", enc[:i]+enc[i+1:])
			check("with a moved slash", enc[:i-1]+"/"+enc[i-1:i]+enc[i+1:])
			continue
		}
		c := alphabet[(strings.IndexByte(alphabet, enc[i])+1+i%31)%32]
		check("with a changed character", enc[:i]+string(c)+enc[i+1:])
	}
	for n := 0; n < len(enc); n += 7 {
		check("truncated", enc[:n])
	}
	check("uppercase", strings.ToUpper(enc))
	check("extended", enc+"a")
	check("with a leading slash", "/"+enc)
	check("with a trailing slash", enc+"/")
	check("with a double slash", strings.Replace(enc, "/", "//", 1))
	check("with a newline", enc[:10]+"\n"+enc[10:])
	check("padded", enc+"======")
	check("empty", "")
	check("plain", "docs/report.txt")

	// A valid ciphertext of a name under another nonce is rejected: each
	// name has exactly one encrypted form.
	ck := s.m.sec.content
	nonce := make([]byte, nonceSize)
	forged := ck.nameAEAD.Seal(nonce, nonce, []byte("docs/report.txt"), nil)
	check("with a foreign nonce", layoutName(b32.EncodeToString(forged)))
	// The last character of the base32 text has spare bits.
	good, _ := s.EncryptName("abc") // 43 bytes: 344 bits in 69 characters, one spare bit
	last := strings.IndexByte(alphabet, good[len(good)-1])
	check("with a spare bit set", good[:len(good)-1]+string(alphabet[last^1]))
}

func TestSealedSize(t *testing.T) {
	for n, want := range map[int]int{
		0: 4136, 1: 4136, 4092: 4136, 4093: 8232, 8188: 8232, 8189: 12328,
		128 << 10: 128<<10 + 4096 + 40, MaxBlockSize: MaxBlockSize + 4096 + 40,
		-1: -1, MaxBlockSize + 1: -1,
	} {
		if got := SealedSize(n); got != want {
			t.Errorf("SealedSize(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestBlockRoundTrip(t *testing.T) {
	s, other := generate(t), generate(t)
	for _, n := range []int{0, 1, 100, 4091, 4092, 4093, 8192, 128 << 10} {
		plain := make([]byte, n)
		for i := range plain {
			plain[i] = byte(i*7 + n)
		}
		sealed := s.SealBlock(plain)
		if len(sealed) != SealedSize(n) {
			t.Errorf("SealBlock(%d bytes) = %d bytes, want %d", n, len(sealed), SealedSize(n))
		}
		if !bytes.Equal(s.SealBlock(plain), sealed) {
			t.Errorf("SealBlock(%d bytes) is not deterministic", n)
		}
		if bytes.Equal(other.SealBlock(plain), sealed) {
			t.Errorf("two folders seal %d bytes the same", n)
		}
		if n >= 16 && bytes.Contains(sealed, plain[:16]) {
			t.Errorf("sealed block contains the plaintext")
		}
		got, err := s.OpenBlock(sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("OpenBlock(SealBlock(%d bytes)) = %d bytes, %v", n, len(got), err)
		}
		if _, err := other.OpenBlock(sealed); !errors.Is(err, ErrDecrypt) {
			t.Errorf("another folder opens the block: %v", err)
		}
	}
	a, b := s.SealBlock([]byte("block a")), s.SealBlock([]byte("block b"))
	if bytes.Equal(a[:nonceSize], b[:nonceSize]) {
		t.Error("different blocks share a nonce")
	}
}

func TestBlockTamper(t *testing.T) {
	s := generate(t)
	plain := bytes.Repeat([]byte("data "), 1000)
	sealed := s.SealBlock(plain)
	check := func(what string, v []byte) {
		t.Helper()
		if _, err := s.OpenBlock(v); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("OpenBlock(%s): %v, want ErrDecrypt", what, err)
		}
	}
	for i := 0; i < len(sealed); i += 97 {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x10
		check("with a flipped bit", bad)
	}
	check("with the last bit flipped", append(bytes.Clone(sealed[:len(sealed)-1]), sealed[len(sealed)-1]^1))
	check("truncated by one", sealed[:len(sealed)-1])
	check("truncated by a page", sealed[:len(sealed)-4096])
	check("extended", append(bytes.Clone(sealed), 0))
	check("empty", nil)
	check("just the overhead", sealed[:nonceSize+tagSize])
	if _, err := s.OpenBlock(sealed); err != nil {
		t.Fatalf("tampering checks modified the original: %v", err)
	}

	// Authentic ciphertexts that SealBlock would never make are rejected,
	// so each block has exactly one sealed form.
	ck := s.m.sec.content
	craft := func(nonce, padded []byte) []byte {
		return ck.blockAEAD.Seal(bytes.Clone(nonce), nonce, padded, nil)
	}
	pad := func(data []byte, size uint32, total int) []byte {
		p := make([]byte, total)
		binary.BigEndian.PutUint32(p, size)
		copy(p[4:], data)
		return p
	}
	sum := sha256.Sum256(plain)
	nonce := keyedNonce(ck.blockKey, sum[:])
	if got, err := s.OpenBlock(craft(nonce, pad(plain, uint32(len(plain)), 8192))); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("crafted canonical block: %v", err)
	}
	check("with a random nonce", craft(make([]byte, nonceSize), pad(plain, uint32(len(plain)), 8192)))
	check("with an extra padding page", craft(nonce, pad(plain, uint32(len(plain)), 12288)))
	check("with a short length", craft(nonce, pad(plain, uint32(len(plain)-1), 8192)))
	check("with a long length", craft(nonce, pad(plain, uint32(len(plain)+1), 8192)))
	check("with a huge length", craft(nonce, pad(plain, 0xffffffff, 8192)))
	dirty := pad(plain, uint32(len(plain)), 8192)
	dirty[8000] = 1
	check("with non-zero padding", craft(nonce, dirty))
	blob, _ := s.EncryptBytes(pad(plain, uint32(len(plain)), 8192), nil)
	check("made by EncryptBytes", blob)
}

func TestEncryptBytes(t *testing.T) {
	s, other := generate(t), generate(t)
	for _, plain := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("meta"), 1000)} {
		for _, ad := range [][]byte{nil, []byte("file 42 version 7")} {
			a, err := s.EncryptBytes(plain, ad)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := s.EncryptBytes(plain, ad)
			if bytes.Equal(a, b) {
				t.Error("EncryptBytes is deterministic; want a random nonce")
			}
			if len(a) != len(plain)+40 {
				t.Errorf("EncryptBytes(%d bytes) = %d bytes", len(plain), len(a))
			}
			got, err := s.DecryptBytes(a, ad)
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("round trip: %q, %v", got, err)
			}
			for what, bad := range map[string]func() ([]byte, error){
				"wrong ad":       func() ([]byte, error) { return s.DecryptBytes(a, append(bytes.Clone(ad), 'x')) },
				"another folder": func() ([]byte, error) { return other.DecryptBytes(a, ad) },
				"flipped bit":    func() ([]byte, error) { c := bytes.Clone(a); c[len(c)/2] ^= 1; return s.DecryptBytes(c, ad) },
				"truncated":      func() ([]byte, error) { return s.DecryptBytes(a[:len(a)-1], ad) },
				"too short":      func() ([]byte, error) { return s.DecryptBytes(a[:39], ad) },
			} {
				if _, err := bad(); !errors.Is(err, ErrDecrypt) {
					t.Errorf("DecryptBytes with %s: %v", what, err)
				}
			}
		}
	}
	// A sealed block is not a valid blob, even with empty ad.
	if _, err := s.DecryptBytes(s.SealBlock([]byte("x")), nil); !errors.Is(err, ErrDecrypt) {
		t.Errorf("DecryptBytes opened a sealed block: %v", err)
	}
}

// A Secret is used from many goroutines at once (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := generate(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				name := strings.Repeat("n", i*10+j)
				enc, err := s.EncryptName(name)
				if err != nil {
					t.Error(err)
					return
				}
				if back, err := s.DecryptName(enc); err != nil || back != name {
					t.Errorf("DecryptName: %q, %v", back, err)
				}
				if _, err := s.OpenBlock(s.SealBlock([]byte(name))); err != nil {
					t.Error(err)
				}
				sig, _ := s.Sign([]byte(name))
				if !s.Verify([]byte(name), sig) {
					t.Error("signature does not verify")
				}
				_ = s.Proof(ReadOnly, nil, nil, make([]byte, 16))
				_ = s.String()
			}
		})
	}
	wg.Wait()
}

func TestSealBytes(t *testing.T) {
	s, other := generate(t), generate(t)
	plain, ad := []byte("a plaintext record"), []byte("twin ad")
	a, err := s.SealBytes(plain, ad)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := s.SealBytes(plain, ad); !bytes.Equal(a, b) {
		t.Error("SealBytes is not deterministic")
	}
	if b, _ := s.SealBytes(plain, []byte("other ad")); bytes.Equal(a[:24], b[:24]) {
		t.Error("the nonce does not depend on ad")
	}
	if b, _ := other.SealBytes(plain, ad); bytes.Equal(a, b) {
		t.Error("two folders seal alike")
	}
	if got, err := s.DecryptBytes(a, ad); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("round trip: %q, %v", got, err)
	}
	if _, err := other.DecryptBytes(a, ad); !errors.Is(err, ErrDecrypt) {
		t.Errorf("another folder opened it: %v", err)
	}
	enc, _ := s.Downgrade(Encrypted)
	if _, err := enc.SealBytes(plain, ad); !errors.Is(err, ErrNoContentKey) {
		t.Errorf("encrypted level sealed: %v", err)
	}
}
