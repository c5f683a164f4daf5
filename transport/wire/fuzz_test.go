package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
)

// FuzzDecode feeds arbitrary frame bodies through Decode and Validate. Neither
// may panic, and a message that decodes and validates must survive a round
// trip through the encoder unchanged.
func FuzzDecode(f *testing.F) {
	samples := sampleMessages()
	for _, name := range sortedSamples() {
		f.Add(mustMarshal(f, samples[name]))
	}
	f.Add([]byte{})
	f.Add(repeatedField(11, 64, 4, 3))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if err := Validate(m); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate error %v does not wrap ErrInvalid", err)
			}
			return
		}
		enc, err := proto.Marshal(m)
		if err != nil {
			t.Fatalf("re-encoding a valid message: %v", err)
		}
		m2, err := Decode(enc)
		if errors.Is(err, ErrTooLarge) {
			// The canonical encoding can be shorter than body (overwritten
			// fields are dropped) and the budget scales with the length.
			m2 = new(Message)
			err = proto.Unmarshal(enc, m2)
		}
		if err != nil {
			t.Fatalf("decoding the re-encoded message: %v", err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("round trip changed the message:\n%v\n%v", m, m2)
		}
		if err := Validate(m2); err != nil {
			t.Fatalf("round trip made the message invalid: %v", err)
		}
	})
}

// FuzzReader feeds arbitrary byte streams through a Reader with a small
// limit. It checks that no frame allocates more than the limit allows, that
// every message read equals Decode of the frame's body, and that the only
// errors are io.EOF, ErrMalformed and ErrTooLarge.
func FuzzReader(f *testing.F) {
	const max = 4096
	samples := sampleMessages()
	var all []byte
	for _, name := range sortedSamples() {
		fr := frame(f, samples[name])
		if len(fr) <= 4+max {
			f.Add(fr)
			all = append(all, fr...)
		}
	}
	f.Add(all)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(binary.BigEndian.AppendUint32(nil, max+1))
	f.Add(append(binary.BigEndian.AppendUint32(nil, max), make([]byte, 10)...))

	// A frame may allocate its body, the decoded message within the decode
	// budget, and some slack for errors and the reader's own bookkeeping.
	const limit = max + budgetBase + budgetRatio*max + 64<<10
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := NewReader(bytes.NewReader(stream), max)
		var before, after runtime.MemStats
		off := 0
		for {
			runtime.ReadMemStats(&before)
			m, err := r.Read()
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > limit {
				t.Fatalf("one Read allocated %d bytes, limit %d", n, limit)
			}
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("Read error %v is not io.EOF, ErrMalformed or ErrTooLarge", err)
				}
				return
			}
			n := int(binary.BigEndian.Uint32(stream[off:]))
			if n > max {
				t.Fatalf("Read accepted a frame of %d bytes, limit %d", n, max)
			}
			want, err := Decode(stream[off+4 : off+4+n])
			if err != nil || !proto.Equal(m, want) {
				t.Fatalf("Read returned %v, Decode of the frame %v (%v)", m, want, err)
			}
			off += 4 + n
			_ = Validate(m)
		}
	})
}

// FuzzValidName checks that every name ValidName accepts stays inside the
// folder root however it is joined, and is in canonical form.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "a/b/c.txt", "über/日本.txt", "my docs/x y", "../x", "/abs", "a/../b", "a\\b", "con", "a//b", "a/", ".", "a\x00b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidName(name)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		switch {
		case !utf8.ValidString(name):
			t.Fatalf("accepted invalid UTF-8 %q", name)
		case len(name) > MaxNameLen:
			t.Fatalf("accepted %d-byte name", len(name))
		case path.Clean(name) != name:
			t.Fatalf("accepted non-canonical %q (clean: %q)", name, path.Clean(name))
		case strings.ContainsAny(name, "\\\x00"):
			t.Fatalf("accepted %q with a backslash or NUL", name)
		case !filepath.IsLocal(filepath.FromSlash(name)) && runtime.GOOS != "windows":
			t.Fatalf("accepted %q, which is not local", name)
		case !strings.HasPrefix(path.Join("/root", name), "/root/"):
			t.Fatalf("accepted %q, which leaves the root", name)
		}
		for _, c := range strings.Split(name, "/") {
			if c == "" || c == "." || c == ".." || len(c) > MaxNameComponentLen {
				t.Fatalf("accepted %q with component %q", name, c)
			}
		}
	})
}
