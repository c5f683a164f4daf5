package invite

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary text to Decode: it must not panic, must fail
// with one of the package's errors, and an invite it accepts must encode
// back to an equal invite.
func FuzzDecode(f *testing.F) {
	k := testKey(f, 1)
	for _, c := range []Capability{typicalCap(), fullCap()} {
		inv := mustNew(f, c, k)
		f.Add(inv.Link())
		f.Add(inv.ChatForm())
		f.Add("(" + inv.Link() + ").")
	}
	f.Add("")
	f.Add("shoal://join/")
	f.Add("SHOAL-AAAA-BBBB")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrGarbled) && !errors.Is(err, ErrTampered) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Decode(%q): unexpected error kind: %v", s, err)
			}
			return
		}
		checkReencode(t, inv)
	})
}

// FuzzDecodeBody feeds arbitrary bodies to the parser, past the checksum and
// signature that stop almost every input to FuzzDecode.
func FuzzDecodeBody(f *testing.F) {
	k := testKey(f, 1)
	for _, c := range []Capability{typicalCap(), fullCap()} {
		inv := mustNew(f, c, k)
		body, err := encodeBody(&inv.Capability)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeBody(body)
		if err != nil {
			if !errors.Is(err, ErrGarbled) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeBody: unexpected error kind: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("decodeBody accepted an invalid capability: %v", err)
		}
		again, err := encodeBody(c)
		if err != nil || !bytes.Equal(again, body) {
			t.Fatalf("re-encoding gave %x, %v; want %x", again, err, body)
		}
		// Sign it for real (as our own device): the whole path must accept
		// it.
		own := *c
		own.Inviter = ""
		inv, err := New(own, k)
		if err != nil {
			t.Fatalf("New(decoded capability): %v", err)
		}
		checkReencode(t, inv)
	})
}

func checkReencode(t *testing.T, inv *Invite) {
	t.Helper()
	p := inv.Encode()
	if p == nil {
		t.Fatalf("decoded invite does not encode: %+v", inv)
	}
	for _, s := range []string{inv.Link(), inv.ChatForm()} {
		again, err := Decode(s)
		if err != nil {
			t.Fatalf("Decode(%q) of a re-encoded invite: %v", s, err)
		}
		if !again.Equal(inv) {
			t.Fatalf("re-encoded invite differs: %+v, want %+v", again, inv)
		}
	}
	again, err := DecodeBytes(p)
	if err != nil || !again.Equal(inv) {
		t.Fatalf("DecodeBytes of a re-encoded invite: %+v, %v", again, err)
	}
}
