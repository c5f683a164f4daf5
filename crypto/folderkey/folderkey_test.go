package folderkey

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

var levels = []Access{Encrypted, ReadOnly, ReadWrite}

// golden is the Secret for rw = 00 01 02 … 1f.
func golden(t testing.TB) *Secret {
	t.Helper()
	rw := make([]byte, 32)
	for i := range rw {
		rw[i] = byte(i)
	}
	s, err := fromRW(rw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func generate(t testing.TB) *Secret {
	t.Helper()
	s, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func downgrade(t testing.TB, s *Secret, a Access) *Secret {
	t.Helper()
	d, err := s.Downgrade(a)
	if err != nil {
		t.Fatalf("Downgrade(%v): %v", a, err)
	}
	return d
}

func mustKey(t testing.TB, s *Secret, a Access) string {
	t.Helper()
	k, ok := s.Key(a)
	if !ok {
		t.Fatalf("%v: no %v key", s, a)
	}
	return k
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Golden values were cross-checked against an independent implementation
// (Python, cryptography package). If this test fails, the derivation
// changed and every existing folder would break.
func TestGolden(t *testing.T) {
	s := golden(t)
	want := map[Access]string{
		ReadWrite: "shoal-rw-aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dyp46laode",
		ReadOnly:  "shoal-ro-yyps2xkaeuexckbtgmhefbsua4efgfomvjsl7uhhaytmxrhbtrdelbatdlz4dtlwswwr4r7rpyipt2e77eg4zza332phpcxjmnlgb35zvucjc",
		Encrypted: "shoal-enc-nq23ytytr3o5hbm5c4frnog5dcazyd6l6uzd4zv2rwllf2vv5v4elbatdlz4dtlwswwr4r7rpyipt2e77eg4zza332phpcxjmnlgb36gnjazc",
	}
	if got := s.Keys(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Keys() =\n%v\nwant\n%v", got, want)
	}
	if got, want := s.FolderID(), "mvb3g7pwc4jfo73wpmetqvh7lhygy2gf"; got != want {
		t.Errorf("FolderID() = %q, want %q", got, want)
	}
	if got, want := hex.EncodeToString(s.WriterPublic()), "4584131af3c1cd7695ad1e47f17e10f9e89ff90dcce41bde9e778ae9635660ef"; got != want {
		t.Errorf("WriterPublic() = %s, want %s", got, want)
	}
	sig, err := s.Sign([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(sig), "4b9b88f0a090f4b4bfcbf7fb396fc5c625c1b642672cafca5827399eac1d46dca3a8766680758da2a83d470d3e1f97084e386d9e314600e2aa20d83b0f5c2605"; got != want {
		t.Errorf("Sign(hello) = %s, want %s", got, want)
	}
	proofs := map[Access]string{
		Encrypted: "6dabdbb3991c69f480dcea96a7b6096f4678a541ab1e6647138a29a6f586d99e",
		ReadOnly:  "e4c1ef43826fd09eb4684aa187e737d70bb011c8eab24a00b0071cb24eca5391",
		ReadWrite: "ca06ed3d9bfc3225329b6ff4643bb9a1b093c61f76f2566604c5ac6fc654ded2",
	}
	for a, want := range proofs {
		got := hex.EncodeToString(s.Proof(a, []byte("alice"), []byte("bob"), []byte("0123456789abcdef")))
		if got != want {
			t.Errorf("Proof(%v) = %s, want %s", a, got, want)
		}
	}
	// Every level parsed from its printable form gives the same answers.
	for a, k := range want {
		p, err := Parse(k)
		if err != nil {
			t.Fatalf("Parse(%v key): %v", a, err)
		}
		if p.Access() != a || p.FolderID() != s.FolderID() || !bytes.Equal(p.WriterPublic(), s.WriterPublic()) {
			t.Errorf("parsed %v key: %v", a, p)
		}
	}
}

func TestAccess(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Access
	}{
		{"rw", ReadWrite}, {"RW", ReadWrite}, {"read-write", ReadWrite}, {"Read-Write", ReadWrite},
		{"ro", ReadOnly}, {"read-only", ReadOnly}, {"READ-ONLY", ReadOnly},
		{"encrypted", Encrypted}, {"enc", Encrypted}, {"Encrypted", Encrypted}, {" enc ", Encrypted},
	} {
		got, err := ParseAccess(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseAccess(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "r", "readwrite", "write", "encrypt", "3"} {
		if _, err := ParseAccess(bad); err == nil {
			t.Errorf("ParseAccess(%q) succeeded", bad)
		}
	}
	for a, want := range map[Access]string{Encrypted: "encrypted", ReadOnly: "ro", ReadWrite: "rw", 0: "Access(0)", 7: "Access(7)"} {
		if a.String() != want {
			t.Errorf("Access(%d).String() = %q, want %q", int(a), a.String(), want)
		}
		if a.valid() {
			if back, err := ParseAccess(a.String()); err != nil || back != a {
				t.Errorf("ParseAccess(%q) = %v, %v", a.String(), back, err)
			}
		}
	}
	if !(Encrypted < ReadOnly && ReadOnly < ReadWrite) {
		t.Error("levels are not ordered")
	}
}

func TestGenerateDiffers(t *testing.T) {
	a, b := generate(t), generate(t)
	if a.FolderID() == b.FolderID() || bytes.Equal(a.WriterPublic(), b.WriterPublic()) {
		t.Fatal("two generated secrets share a folder ID or writer key")
	}
	if mustKey(t, a, ReadWrite) == mustKey(t, b, ReadWrite) {
		t.Fatal("two generated secrets are equal")
	}
	if a.Access() != ReadWrite || len(a.FolderID()) != 32 || len(a.WriterPublic()) != 32 {
		t.Fatalf("generated %v: folder ID %q, writer key %d bytes", a, a.FolderID(), len(a.WriterPublic()))
	}
}

func TestChain(t *testing.T) {
	rw := generate(t)
	keys := rw.Keys()
	if len(keys) != 3 {
		t.Fatalf("rw Keys() has %d entries", len(keys))
	}
	for _, a := range levels {
		d := downgrade(t, rw, a)
		if d.Access() != a {
			t.Errorf("Downgrade(%v).Access() = %v", a, d.Access())
		}
		if d.FolderID() != rw.FolderID() || !bytes.Equal(d.WriterPublic(), rw.WriterPublic()) {
			t.Errorf("Downgrade(%v) changed folder ID or writer key", a)
		}
		// Lower levels computed from this level match the ones computed
		// from rw; higher levels are absent.
		for _, b := range levels {
			k, ok := d.Key(b)
			switch {
			case b <= a && (!ok || k != keys[b]):
				t.Errorf("Downgrade(%v).Key(%v) = %v, want the rw-derived key", a, b, ok)
			case b > a && (ok || k != ""):
				t.Errorf("Downgrade(%v).Key(%v) returned a key", a, b)
			}
			if _, err := d.Downgrade(b); (err == nil) != (b <= a) {
				t.Errorf("Downgrade(%v).Downgrade(%v): err = %v", a, b, err)
			}
		}
		if len(d.Keys()) != int(a) {
			t.Errorf("Downgrade(%v).Keys() has %d entries", a, len(d.Keys()))
		}
		// No higher secret is held, not even internally.
		m := d.m.sec
		for b := a + 1; b <= ReadWrite; b++ {
			if m.levels[b] != nil || m.proofKeys[b] != nil {
				t.Errorf("Downgrade(%v) holds the %v secret", a, b)
			}
		}
		if (m.writer != nil) != (a == ReadWrite) || (m.content != nil) != (a >= ReadOnly) {
			t.Errorf("Downgrade(%v): writer key %v, content keys %v", a, m.writer != nil, m.content != nil)
		}
		// Parsing the level's own key gives the same Secret.
		p, err := Parse(keys[a])
		if err != nil {
			t.Fatal(err)
		}
		if p.FolderID() != d.FolderID() || fmt.Sprint(p.Keys()) != fmt.Sprint(d.Keys()) {
			t.Errorf("Parse(%v key) differs from Downgrade(%v)", a, a)
		}
	}
	for _, bad := range []Access{0, 4, -1} {
		if _, err := rw.Downgrade(bad); err == nil {
			t.Errorf("Downgrade(%v) succeeded", bad)
		}
		if _, ok := rw.Key(bad); ok {
			t.Errorf("Key(%v) succeeded", bad)
		}
	}
}

func TestZeroSecret(t *testing.T) {
	for _, s := range []*Secret{nil, new(Secret)} {
		if s.Access() != 0 || s.FolderID() != "" || s.WriterPublic() != nil || len(s.Keys()) != 0 {
			t.Errorf("%v: not empty", s)
		}
		if _, err := s.Sign(nil); !errors.Is(err, ErrNotWriter) {
			t.Errorf("%v.Sign: %v", s, err)
		}
		if s.Verify(nil, make([]byte, 64)) || s.Proof(Encrypted, nil, nil, make([]byte, 16)) != nil ||
			s.CheckProof(Encrypted, nil, nil, nil, make([]byte, 16)) {
			t.Errorf("%v verifies or proves", s)
		}
		if _, err := s.Downgrade(Encrypted); err == nil {
			t.Errorf("%v.Downgrade succeeded", s)
		}
		if _, err := s.EncryptName("a"); !errors.Is(err, ErrNoContentKey) {
			t.Errorf("%v.EncryptName: %v", s, err)
		}
		if s.SealBlock([]byte("a")) != nil {
			t.Errorf("%v.SealBlock returned data", s)
		}
		_ = fmt.Sprintf("%v %+v %#v %s", s, s, s, s)
		_ = s.LogValue()
	}
	if _, err := new(Secret).MarshalText(); err == nil {
		t.Error("MarshalText of an empty Secret succeeded")
	}
}

// body returns the base32 part of a printable key.
func body(k string) (prefix, b string) {
	i := strings.LastIndexByte(k, '-') + 1
	return k[:i], k[i:]
}

func TestParseTolerance(t *testing.T) {
	s := generate(t)
	for _, a := range levels {
		k := mustKey(t, s, a)
		prefix, b := body(k)
		var grouped4, grouped5 strings.Builder
		for i := 0; i < len(b); i++ {
			if i > 0 && i%4 == 0 {
				grouped4.WriteByte(' ')
			}
			if i > 0 && i%5 == 0 {
				grouped5.WriteByte('-')
			}
			grouped4.WriteByte(b[i])
			grouped5.WriteByte(b[i])
		}
		variants := []string{
			k,
			"  " + k + "\n",
			"\t" + k + "\r\n",
			strings.ToUpper(k),
			prefix + strings.ToUpper(b),
			prefix + grouped4.String(),
			prefix + grouped5.String(),
			strings.ToUpper(prefix) + " " + grouped4.String() + " ",
			strings.ReplaceAll(prefix, "-", " ") + b,
			prefix + b[:10] + "\u00a0" + b[10:20] + "\u200b" + b[20:30] + "\u2013" + b[30:],
			prefix + b[:20] + "\n" + b[20:],
			prefix + strings.ReplaceAll(b, "o", "0"),
			"\ufeff" + k,
		}
		for _, v := range variants {
			p, err := Parse(v)
			if err != nil {
				t.Errorf("Parse(%q): %v", v, err)
				continue
			}
			if got := mustKey(t, p, a); got != k {
				t.Errorf("Parse(%q) = %s, want %s", v, got, k)
			}
		}
	}
}

// checkParseError checks that err is a parse error of the wanted kinds and
// does not contain any 8-character piece of the key body.
func checkParseError(t *testing.T, input, keyBody string, err error, kinds ...error) {
	t.Helper()
	if err == nil {
		t.Errorf("Parse(%q) succeeded", input)
		return
	}
	ok := false
	for _, k := range kinds {
		ok = ok || errors.Is(err, k)
	}
	if !ok {
		t.Errorf("Parse(%q): %v, want one of %v", input, err, kinds)
	}
	msg := strings.ToLower(err.Error())
	for i := 0; i+8 <= len(keyBody); i++ {
		if strings.Contains(msg, keyBody[i:i+8]) {
			t.Fatalf("error %q contains part of the key", err)
		}
	}
}

func TestParseTypos(t *testing.T) {
	s := golden(t)
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for _, a := range levels {
		k := mustKey(t, s, a)
		prefix, b := body(k)
		// Every single-character substitution.
		for i := 0; i < len(b); i++ {
			for _, c := range []byte(alphabet) {
				if c == b[i] {
					continue
				}
				typo := prefix + b[:i] + string(c) + b[i+1:]
				_, err := Parse(typo)
				checkParseError(t, typo, b, err, ErrMistyped)
			}
			if t.Failed() {
				return
			}
		}
		// Every adjacent swap.
		for i := 0; i+1 < len(b); i++ {
			if b[i] == b[i+1] {
				continue
			}
			swap := prefix + b[:i] + string(b[i+1]) + string(b[i]) + b[i+2:]
			_, err := Parse(swap)
			checkParseError(t, swap, b, err, ErrMistyped)
		}
		// Every truncation, one extra character, a dropped character.
		for n := 0; n < len(b); n++ {
			_, err := Parse(prefix + b[:n])
			checkParseError(t, prefix+b[:n], b, err, ErrMalformed)
		}
		for _, v := range []string{k + "a", prefix + b[1:], prefix + b[:20] + b[21:], prefix + "a" + b, k + k} {
			_, err := Parse(v)
			checkParseError(t, v, b, err, ErrMalformed)
		}
		// Invalid characters.
		for _, c := range []string{"1", "8", "9", "=", "_", ".", "é", "\x00", "\xff"} {
			v := prefix + b[:30] + c + b[31:]
			_, err := Parse(v)
			checkParseError(t, v, b, err, ErrMalformed)
		}
		// Another level's prefix on this body.
		for _, other := range levels {
			if other == a {
				continue
			}
			v := prefixes[other] + b
			_, err := Parse(v)
			checkParseError(t, v, b, err, ErrMistyped, ErrMalformed)
		}
		// An unknown prefix.
		for _, p := range []string{"", "shoal-", "shoal-rx-", "shoa-rw-", "sholl-ro-", "xshoal-rw-", "rw-"} {
			_, err := Parse(p + b)
			checkParseError(t, p+b, b, err, ErrUnknownKeyType)
		}
	}
	for _, v := range []string{"", " ", "hello", "shoal", "12D3KooWGRUVh2tJgUVWyNJA4HqYKwZ3ifYXnbz1t7CktVaEr8Bt"} {
		if _, err := Parse(v); !errors.Is(err, ErrUnknownKeyType) {
			t.Errorf("Parse(%q): %v, want ErrUnknownKeyType", v, err)
		}
	}
}

// The last character of a rw key carries two unused bits; setting them must
// not give a second spelling of the same key.
func TestParseStrayBits(t *testing.T) {
	k := mustKey(t, golden(t), ReadWrite)
	prefix, b := body(k)
	last := strings.IndexByte("abcdefghijklmnopqrstuvwxyz234567", b[len(b)-1])
	for bits := 1; bits < 4; bits++ {
		c := "abcdefghijklmnopqrstuvwxyz234567"[last^bits]
		v := prefix + b[:len(b)-1] + string(c)
		_, err := Parse(v)
		checkParseError(t, v, b, err, ErrMistyped)
	}
}

func TestSignVerify(t *testing.T) {
	s, other := generate(t), generate(t)
	msg := []byte("index record 42")
	sig, err := s.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range levels {
		d := downgrade(t, s, a)
		if !d.Verify(msg, sig) {
			t.Errorf("%v level cannot verify", a)
		}
		if a < ReadWrite {
			if _, err := d.Sign(msg); !errors.Is(err, ErrNotWriter) {
				t.Errorf("%v level Sign: %v", a, err)
			}
		}
	}
	for i := 0; i < len(sig)*8; i += 7 {
		bad := bytes.Clone(sig)
		bad[i/8] ^= 1 << (i % 8)
		if s.Verify(msg, bad) {
			t.Fatalf("signature with bit %d flipped verifies", i)
		}
	}
	for i := 0; i < len(msg)*8; i++ {
		bad := bytes.Clone(msg)
		bad[i/8] ^= 1 << (i % 8)
		if s.Verify(bad, sig) {
			t.Fatalf("message with bit %d flipped verifies", i)
		}
	}
	if other.Verify(msg, sig) {
		t.Error("another folder's key verifies the signature")
	}
	if s.Verify(msg, sig[:63]) || s.Verify(msg, nil) || s.Verify(msg, append(bytes.Clone(sig), 0)) {
		t.Error("a signature of the wrong length verifies")
	}
	// The domain prefix is part of what is signed.
	if s.Verify([]byte(signDomain+string(msg)), sig) {
		t.Error("signature verifies for the prefixed message")
	}
}

func TestProof(t *testing.T) {
	s, other := generate(t), generate(t)
	prover, verifier := []byte("device-A"), []byte("device-B")
	nonce := []byte("a fresh 16+ byte nonce")
	for _, a := range levels {
		holder := downgrade(t, s, a)
		for _, b := range levels {
			p := holder.Proof(b, prover, verifier, nonce)
			if b > a {
				if p != nil {
					t.Errorf("%v holder made a %v proof", a, b)
				}
				// The best it can do: a proof at its own level, relabeled.
				own := holder.Proof(a, prover, verifier, nonce)
				if s.CheckProof(b, own, prover, verifier, nonce) {
					t.Errorf("%v proof passes as %v", a, b)
				}
				continue
			}
			if len(p) != 32 {
				t.Fatalf("%v holder: Proof(%v) is %d bytes", a, b, len(p))
			}
			// Every holder of level b checks it.
			for _, c := range levels {
				v := downgrade(t, s, c)
				if got := v.CheckProof(b, p, prover, verifier, nonce); got != (b <= c) {
					t.Errorf("%v verifier: CheckProof(%v proof by %v holder) = %v", c, b, a, got)
				}
			}
		}
	}
	p := s.Proof(ReadOnly, prover, verifier, nonce)
	otherNonce := bytes.Clone(nonce)
	otherNonce[0] ^= 1
	for name, ok := range map[string]bool{
		"another nonce":         s.CheckProof(ReadOnly, p, prover, verifier, otherNonce),
		"swapped roles":         s.CheckProof(ReadOnly, p, verifier, prover, nonce),
		"another prover":        s.CheckProof(ReadOnly, p, []byte("device-C"), verifier, nonce),
		"another folder":        other.CheckProof(ReadOnly, p, prover, verifier, nonce),
		"another level":         s.CheckProof(Encrypted, p, prover, verifier, nonce),
		"truncated proof":       s.CheckProof(ReadOnly, p[:31], prover, verifier, nonce),
		"empty proof":           s.CheckProof(ReadOnly, nil, prover, verifier, nonce),
		"shifted field borders": s.CheckProof(ReadOnly, p, []byte("device-AB"), []byte("-B"), nonce),
		"invalid level":         s.CheckProof(0, p, prover, verifier, nonce),
	} {
		if ok {
			t.Errorf("proof checks with %s", name)
		}
	}
	short := nonce[:MinNonceSize-1]
	if s.Proof(ReadOnly, prover, verifier, short) != nil {
		t.Error("Proof accepted a short nonce")
	}
	if s.CheckProof(ReadOnly, s.m.proof(ReadOnly, prover, verifier, short), prover, verifier, short) {
		t.Error("CheckProof accepted a short nonce")
	}
}

func TestNoKeyInFormatting(t *testing.T) {
	s := generate(t)
	var secrets []string
	for _, k := range s.Keys() {
		_, b := body(k)
		secrets = append(secrets, b[:16])
	}
	sec := s.m.sec
	raws := [][]byte{sec.writer, sec.content.nameKey, sec.content.blockKey}
	raws = append(raws, sec.levels[Encrypted:]...)
	raws = append(raws, sec.proofKeys[Encrypted:]...)
	for _, raw := range raws {
		secrets = append(secrets, hex.EncodeToString(raw)[:16], strings.Trim(fmt.Sprint(raw[:6]), "[]"))
	}
	type holder struct {
		Key    *Secret
		hidden *Secret
		value  Secret
	}
	h := holder{Key: s, hidden: s, value: *s}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v", "%T"} {
		fmt.Fprintf(&out, verb+"\n", s)
		fmt.Fprintf(&out, verb+"\n", *s)
		fmt.Fprintf(&out, verb+"\n", h)
		fmt.Fprintf(&out, verb+"\n", &h)
		fmt.Fprintf(&out, verb+"\n", []*Secret{s})
		fmt.Fprintf(&out, verb+"\n", []Secret{*s})
		fmt.Fprintf(&out, verb+"\n", map[string]Secret{"k": *s})
	}
	fmt.Fprintln(&out, s, s.String(), s.GoString())
	for _, hd := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		l := slog.New(hd)
		l.Info("secret", "key", s, "downgraded", downgrade(t, s, Encrypted))
		l.Info("secret", slog.Any("key", s))
	}
	text := out.String()
	for _, sec := range secrets {
		if strings.Contains(text, sec) {
			t.Fatalf("formatted output contains key material %q:\n%s", sec, text)
		}
	}
	if !strings.Contains(text, "folderkey.Secret{rw, folder "+s.FolderID()[:7]) || !strings.Contains(text, s.FolderID()) {
		t.Errorf("formatted output lacks the description:\n%s", text)
	}
}

func TestMarshalText(t *testing.T) {
	s := generate(t)
	type config struct {
		Key *Secret `json:"key"`
	}
	for _, a := range levels {
		d := downgrade(t, s, a)
		data, err := json.Marshal(config{Key: d})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), mustKey(t, d, a)) {
			t.Errorf("JSON %s lacks the %v key", data, a)
		}
		var back config
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if back.Key.Access() != a || back.Key.FolderID() != s.FolderID() {
			t.Errorf("JSON round trip of %v: %v", a, back.Key)
		}
	}
	var back config
	if err := json.Unmarshal([]byte(`{"key":"shoal-rw-nope"}`), &back); !errors.Is(err, ErrMalformed) {
		t.Errorf("unmarshaling a bad key: %v", err)
	}
}

// TestRotate: a later epoch keeps the folder ID, shares no secret with the
// earlier one, and its printable keys carry epoch and folder ID.
func TestRotate(t *testing.T) {
	s0, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	s1, err := s0.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if s1.FolderID() != s0.FolderID() || s1.Epoch() != 1 || s0.Epoch() != 0 {
		t.Fatalf("rotated: id %s epoch %d (from %s)", s1.FolderID(), s1.Epoch(), s0.FolderID())
	}
	if bytes.Equal(s1.WriterPublic(), s0.WriterPublic()) {
		t.Fatal("the writer key did not change")
	}
	s2, err := s1.Rotate()
	if err != nil || s2.Epoch() != 2 || s2.FolderID() != s0.FolderID() {
		t.Fatalf("second rotation: %v, epoch %d", err, s2.Epoch())
	}
	for _, a := range []Access{ReadWrite, ReadOnly, Encrypted} {
		k, ok := s2.Key(a)
		if !ok {
			t.Fatalf("no %v key", a)
		}
		p, err := Parse(k)
		if err != nil {
			t.Fatalf("parsing epoch-2 %v key: %v", a, err)
		}
		if p.Epoch() != 2 || p.FolderID() != s0.FolderID() || p.Access() != a || !bytes.Equal(p.WriterPublic(), s2.WriterPublic()) {
			t.Fatalf("%v key round trip: epoch %d id %s access %v", a, p.Epoch(), p.FolderID(), p.Access())
		}
		d, err := s2.Downgrade(a)
		if err != nil || d.Epoch() != 2 || d.FolderID() != s0.FolderID() {
			t.Fatalf("downgrade to %v: %v epoch %d", a, err, d.Epoch())
		}
		k0, _ := s0.Key(a)
		if k0 == k {
			t.Fatalf("%v key unchanged by rotation", a)
		}
	}
	nonce := bytes.Repeat([]byte{1}, 32)
	old := s0.Proof(ReadOnly, []byte("p"), []byte("v"), nonce)
	if s2.CheckProof(ReadOnly, old, []byte("p"), []byte("v"), nonce) {
		t.Fatal("a proof with an earlier epoch's key checks out")
	}
	ro, _ := s1.Downgrade(ReadOnly)
	if _, err := ro.Rotate(); err == nil {
		t.Fatal("a read-only secret rotated")
	}
	msg := []byte("record")
	sig, _ := s0.Sign(msg)
	if s2.Verify(msg, sig) {
		t.Fatal("a signature by an earlier epoch's writer key verifies")
	}
}
