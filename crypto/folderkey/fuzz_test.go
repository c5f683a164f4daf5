package folderkey

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any string parses or fails with one of the three parse errors,
// never panics, and a parsed key prints and re-parses to the same key.
func FuzzParse(f *testing.F) {
	s := golden(f)
	for _, k := range s.Keys() {
		f.Add(k)
		f.Add(strings.ToUpper(k))
		f.Add(" " + k[:len(k)/2] + " - " + k[len(k)/2:] + "\n")
		f.Add(k[:len(k)-3])
	}
	f.Add("")
	f.Add("shoal-rw-")
	f.Add("shoal-enc-0000")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrUnknownKeyType) && !errors.Is(err, ErrMistyped) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q): unexpected error kind %v", in, err)
			}
			return
		}
		a := p.Access()
		k, ok := p.Key(a)
		if !ok || !a.valid() {
			t.Fatalf("Parse(%q) gave %v without its own key", in, p)
		}
		q, err := Parse(k)
		if err != nil {
			t.Fatalf("re-parsing %q: %v", k, err)
		}
		if k2, _ := q.Key(a); k2 != k || q.FolderID() != p.FolderID() || !bytes.Equal(q.WriterPublic(), p.WriterPublic()) {
			t.Fatalf("re-parsing %q gave another key", k)
		}
	})
}

// FuzzDecryptName: any string either fails with ErrDecrypt or is the exact
// encryption of what it decrypts to. The second half seals fuzzed bytes
// under a fuzzed nonce, so the checks after authentication run too.
func FuzzDecryptName(f *testing.F) {
	s := golden(f)
	for _, name := range []string{"", "a", "docs/report.txt", strings.Repeat("x/", 150)} {
		enc, err := s.EncryptName(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc, []byte(name))
		f.Add(strings.ReplaceAll(enc, "/", ""), []byte{})
	}
	ck := s.m.sec.content
	f.Fuzz(func(t *testing.T, in string, crafted []byte) {
		check := func(in string) {
			name, err := s.DecryptName(in)
			if err != nil {
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("DecryptName(%q): unexpected error kind %v", in, err)
				}
				return
			}
			if again, _ := s.EncryptName(name); again != in {
				t.Fatalf("DecryptName(%q) = %q, which encrypts to %q", in, name, again)
			}
		}
		check(in)
		if len(crafted) >= nonceSize {
			nonce := crafted[:nonceSize]
			sealed := ck.nameAEAD.Seal(bytes.Clone(nonce), nonce, crafted[nonceSize:], nil)
			check(layoutName(b32.EncodeToString(sealed)))
		}
	})
}

// FuzzOpenBlock: any input either fails with ErrDecrypt or is exactly
// SealBlock of what it opens to. The second input is sealed as the padded
// plaintext under a fuzzed nonce (its first 24 bytes, or the derived nonce
// when useDerived is set), so the length, padding and nonce checks after
// authentication are fuzzed as well.
func FuzzOpenBlock(f *testing.F) {
	s := golden(f)
	ck := s.m.sec.content
	for _, plain := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte{1}, 5000)} {
		sealed := s.SealBlock(plain)
		f.Add(sealed, []byte{}, false)
		f.Add(sealed[:100], sealed[nonceSize:nonceSize+64], true)
		padded := make([]byte, 4+len(plain)+3)
		binary.BigEndian.PutUint32(padded, uint32(len(plain)))
		copy(padded[4:], plain)
		f.Add([]byte{}, padded, true)
	}
	f.Fuzz(func(t *testing.T, in, padded []byte, useDerived bool) {
		check := func(in []byte) {
			plain, err := s.OpenBlock(in)
			if err != nil {
				if !errors.Is(err, ErrDecrypt) {
					t.Fatalf("OpenBlock: unexpected error kind %v", err)
				}
				return
			}
			if !bytes.Equal(s.SealBlock(plain), in) {
				t.Fatalf("OpenBlock accepted a block that is not SealBlock of its content")
			}
		}
		check(in)
		// Round the crafted plaintext up to a page so the size check passes.
		body := make([]byte, max(BlockPadding, (len(padded)+BlockPadding-1)/BlockPadding*BlockPadding))
		copy(body, padded)
		var nonce []byte
		if useDerived && len(padded) >= 4 {
			n := min(int(binary.BigEndian.Uint32(padded)), len(body)-4)
			sum := sha256.Sum256(body[4 : 4+n])
			nonce = keyedNonce(ck.blockKey, sum[:])
		} else {
			nonce = make([]byte, nonceSize)
			copy(nonce, padded)
		}
		check(ck.blockAEAD.Seal(bytes.Clone(nonce), nonce, body, nil))
	})
}

// FuzzDecryptBytes: any input fails with ErrDecrypt unless it is the one
// authentic blob seeded here.
func FuzzDecryptBytes(f *testing.F) {
	s := golden(f)
	// A fixed nonce instead of EncryptBytes' random one: fuzz workers run
	// this function in other processes and must agree on the blob.
	nonce := bytes.Repeat([]byte{7}, nonceSize)
	blob := s.m.sec.content.blockAEAD.Seal(bytes.Clone(nonce), nonce, []byte("metadata"), bytesAD([]byte("ad")))
	if plain, err := s.DecryptBytes(blob, []byte("ad")); err != nil || string(plain) != "metadata" {
		f.Fatalf("seed blob: %q, %v", plain, err)
	}
	f.Add(blob, []byte("ad"))
	f.Add(blob[:39], []byte{})
	f.Fuzz(func(t *testing.T, in, ad []byte) {
		plain, err := s.DecryptBytes(in, ad)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("DecryptBytes: unexpected error kind %v", err)
			}
			return
		}
		if !bytes.Equal(in, blob) || !bytes.Equal(ad, []byte("ad")) || string(plain) != "metadata" {
			t.Fatalf("DecryptBytes accepted a forged blob")
		}
	})
}
