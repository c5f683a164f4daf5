package folderkey

import "testing"

func BenchmarkSign(b *testing.B) {
	s := golden(b)
	msg := make([]byte, 256)
	for b.Loop() {
		if _, err := s.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	s := golden(b)
	msg := make([]byte, 256)
	sig, _ := s.Sign(msg)
	for b.Loop() {
		if !s.Verify(msg, sig) {
			b.Fatal("does not verify")
		}
	}
}

func BenchmarkProof(b *testing.B) {
	s := golden(b)
	prover, verifier, nonce := make([]byte, 38), make([]byte, 38), make([]byte, 32)
	for b.Loop() {
		if s.Proof(ReadOnly, prover, verifier, nonce) == nil {
			b.Fatal("no proof")
		}
	}
}

func BenchmarkSealBlock128K(b *testing.B) {
	s := golden(b)
	plain := make([]byte, 128<<10)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		plain[0]++
		s.SealBlock(plain)
	}
}

func BenchmarkOpenBlock128K(b *testing.B) {
	s := golden(b)
	plain := make([]byte, 128<<10)
	sealed := s.SealBlock(plain)
	b.SetBytes(int64(len(plain)))
	for b.Loop() {
		if _, err := s.OpenBlock(sealed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptName(b *testing.B) {
	s := golden(b)
	for b.Loop() {
		if _, err := s.EncryptName("photos/2025/holiday/IMG_0042.jpg"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	k, _ := golden(b).Key(ReadOnly)
	for b.Loop() {
		if _, err := Parse(k); err != nil {
			b.Fatal(err)
		}
	}
}
